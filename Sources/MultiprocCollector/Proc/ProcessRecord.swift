// MARK: - One process as /proc describes it

/// What `/proc/<pid>/stat` and `/proc/<pid>/status` say about the task holding a pid: enough
/// to tell whether it can be the writer of that pid's metric files.
public struct ProcessRecord: Sendable, Equatable {
    /// The pid looked up (a thread id when the number belongs to a thread).
    public var pid: Int
    /// The process the task belongs to (`Tgid:`); differs from ``pid`` for a thread.
    public var threadGroup: Int
    /// The parent process (`stat` field 4).
    public var parent: Int { stat.parent }
    /// The one-letter state (`stat` field 3): `R`, `S`, `D`, `Z` (zombie), `X` (dead)...
    public var state: Character { stat.state }
    /// `PF_KTHREAD` in the flags (`stat` field 9): kernel threads never write metric files.
    public var isKernelThread: Bool { stat.isKernelThread }
    /// Threads in the process (`stat` field 20).
    public var threads: Int { stat.threads }
    /// When the task started, in clock ticks after boot (`stat` field 22).
    public var startTicks: UInt64 { stat.startTicks }
    /// The effective uid (`Uid:`, second value), when `status` was readable.
    public var effectiveUid: UInt32?
    /// The task's pid in each pid namespace it belongs to, this one first (`NSpid:`); more
    /// than one entry means it lives in a pid namespace nested below ours.
    public var namespacePids: [Int]
    /// Everything `stat` said.
    public var stat: ProcessStat

    /// Exited and not yet reaped by its parent: it will never write again.
    public var isZombie: Bool { stat.hasExited }

    /// The pid the process sees for itself (its innermost namespace): what prometheus_client
    /// names its files after.
    public var innermostPid: Int { namespacePids.last ?? pid }

    /// Parses `stat` (required) and `status` (optional: hidden fields stay nil or default).
    /// Returns nil when `stat` is not what the kernel writes.
    public init?(pid: Int, stat: String, status: String?) {
        guard let fields = ProcessStat(parsing: stat) else { return nil }
        self.pid = pid
        self.stat = fields
        threadGroup = pid
        namespacePids = [pid]
        guard let status else { return }
        for line in status.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == "\t" || $0 == " " })
            guard let key = parts.first, parts.count >= 2 else { continue }
            switch key {
            case "Tgid": threadGroup = Int(parts[1]) ?? pid
            case "Uid" where parts.count >= 3: effectiveUid = UInt32(parts[2])
            case "NSpid": namespacePids = parts.dropFirst().compactMap { Int($0) }
            default: continue
            }
        }
        if namespacePids.isEmpty { namespacePids = [pid] }
    }
}
