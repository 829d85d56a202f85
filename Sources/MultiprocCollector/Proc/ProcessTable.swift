import Glibc
import MultiprocSupport

// MARK: - Reading processes from /proc

/// The processes of this pid namespace as a `/proc` directory shows them.
///
/// Everything is read fresh on each call (no cache): a process can exit and its pid be
/// taken between two calls. `root` is `/proc` in production; tests pass a directory laid out
/// like it (`<pid>/stat`, `<pid>/status`, `<pid>/maps`, `self` → `<pid>`).
///
/// Where the real `/proc` hides a process (`hidepid=`, systemd's `ProtectProc=invisible`), a
/// `kill(pid, 0)` probe still tells "no such process" (`ESRCH`) from "exists, not yours"
/// (`EPERM`): such a pid is ``Lookup/hidden``, never ``Lookup/absent``.
public struct ProcessTable: Sendable {
    /// The `/proc` directory read.
    public let root: String
    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of ``ProcessRecord/startTicks``.
    public let ticksPerSecond: Double
    /// Bytes per memory page (`sysconf(_SC_PAGESIZE)`), the unit of ``ProcessStat/residentPages``.
    public let pageSize: Double
    /// Whether this is the real `/proc`: only then is existence confirmed with `kill(pid, 0)`
    /// and are system calls about a pid (`prlimit`) made, since a test tree's pids are not
    /// this machine's.
    let probesWithSignal: Bool

    /// The largest pid Linux hands out (`PID_MAX_LIMIT` on 64-bit); a larger number in a file
    /// name is not a pid (a custom `process_identifier`).
    public static let maxPid = 4_194_304

    /// What a lookup found.
    public enum Lookup: Sendable, Equatable {
        /// No task holds the pid in this pid namespace.
        case absent
        /// A task holds it but its `/proc` entry cannot be read.
        case hidden
        /// The task holding it.
        case present(ProcessRecord)
    }

    /// A table over `root`.
    public init(root: String = "/proc") {
        self.root = root
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        ticksPerSecond = ticks > 0 ? Double(ticks) : 100
        pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        probesWithSignal = root == "/proc"
    }

    /// The task holding `pid` now.
    public func lookup(_ pid: Int) -> Lookup {
        guard (1...Self.maxPid).contains(pid) else { return .absent }
        let directory = "\(root)/\(pid)"
        do {
            let stat = String(decoding: try FileContents.read("\(directory)/stat", limit: 4096), as: UTF8.self)
            // Parsed from the same moment's status when it can be read (Tgid, Uid, NSpid).
            let status = FileContents.text("\(directory)/status", limit: 64 << 10)
            guard let record = ProcessRecord(pid: pid, stat: stat, status: status) else { return .hidden }
            return .present(record)
        } catch {
            guard access(directory, F_OK) != 0 else { return .hidden }
            guard probesWithSignal else { return .absent }
            return kill(pid_t(pid), 0) != 0 && errno == ESRCH ? .absent : .hidden
        }
    }

    /// The files `pid` maps for writing, or nil when its `maps` cannot be read (another user's process
    /// without `CAP_SYS_PTRACE`, or gone).
    public func maps(of pid: Int) -> WritableMappings? {
        guard let bytes = try? FileContents.read("\(root)/\(pid)/maps", limit: 64 << 20) else { return nil }
        return WritableMappings(parsing: bytes)
    }

    /// Every process (thread group) listed, in directory order.
    public func pids() -> [Int] {
        guard let dir = opendir(root) else { return [] }
        defer { closedir(dir) }
        var pids: [Int] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let pid = Int(name), pid > 0 { pids.append(pid) }
        }
        return pids
    }

    /// This process and its ancestors up to the namespace's first process, as pids of this
    /// table: none of them writes the app's metric files.
    public func selfAndAncestors() -> Set<Int> {
        var buffer = [CChar](repeating: 0, count: 32)
        let n = readlink("\(root)/self", &buffer, buffer.count - 1)
        guard n > 0, var pid = Int(String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)) else { return [] }
        var chain: Set<Int> = []
        while pid > 0, chain.insert(pid).inserted, case .present(let record) = lookup(pid) {
            pid = record.parent
        }
        return chain
    }

    /// When `record`'s task started, in seconds after boot (the clock of ``BootClock``).
    public func startSeconds(_ record: ProcessRecord) -> Double {
        Double(record.startTicks) / ticksPerSecond
    }
}

extension ProcessTable {
    /// The files among `files` (device, inode, name) that some process other than this one
    /// maps writable and shared: in use by a writer, whatever their pid says. Nil when no
    /// other process's maps can be read (another pid namespace, `hidepid`): then nothing can
    /// be concluded.
    func filesMappedForWriting(_ files: [(device: UInt64, inode: UInt64, name: String)]) -> Set<UInt64>? {
        let me = Int(getpid())
        var found = Set<UInt64>()
        var readOthers = false
        for pid in pids() where pid != me {
            guard let mappings = maps(of: pid) else { continue }
            readOthers = true
            for file in files where mappings.maps(DeviceInode(device: file.device, inode: file.inode), name: file.name) {
                found.insert(file.inode)
            }
        }
        return readOthers ? found : nil
    }
}
