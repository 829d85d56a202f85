import Glibc

// MARK: - The metric files of each pid

/// One metric file of a pid, as ``DeadWorkerRule`` sees it.
public struct PidFile: Sendable, Equatable {
    /// The file name (`gauge_livesum_123.db`).
    public var name: String
    /// A `gauge_live*` file: what mark-dead removes.
    public var isLiveGauge: Bool
    /// Device and inode, to find the file in `/proc/<pid>/maps`.
    public var identity: DeviceInode
    /// The file's owner: the user its writer ran as.
    public var owner: UInt32
    /// Boot-clock seconds by which the file certainly existed (see ``DeadWorkerFinder``).
    public var bornBy: Double

    /// A file from its facts.
    public init(name: String, isLiveGauge: Bool, identity: DeviceInode, owner: UInt32, bornBy: Double) {
        self.name = name
        self.isLiveGauge = isLiveGauge
        self.identity = identity
        self.owner = owner
        self.bornBy = bornBy
    }
}

/// The metric files of one pid (the number in their names).
public struct PidFiles: Sendable, Equatable {
    /// The pid as written in the file names.
    public var pid: Int
    /// Its files, in directory order.
    public var files: [PidFile]

    /// A pid and its files.
    public init(pid: Int, files: [PidFile]) {
        self.pid = pid
        self.files = files
    }

    /// The earliest time by which one of the files existed: whatever held the pid then
    /// created that file.
    public var bornBy: Double { files.map(\.bornBy).min() ?? .infinity }
    /// Whether mark-dead would remove something.
    public var hasLiveGauges: Bool { files.contains(where: \.isLiveGauge) }
    /// Whether `maps` holds one of the files.
    public func mapped(in maps: WritableMappings) -> Bool { files.contains { maps.maps($0.identity, name: $0.name) } }
}

/// Lists the metric directory for ``DeadWorkerFinder``: every regular metric file with its
/// status, grouped by pid, and the fingerprint of a pid's contents.
struct MetricFileSurvey {
    struct File {
        var name: String
        var parsed: MetricFileName
        var status: FileStatus
    }

    /// Files by pid, pids in the order first listed. Names whose pid is not a number Linux
    /// hands out are returned apart (custom `process_identifier` values).
    static func files(in path: String) throws(CollectorError) -> (byPid: [(pid: Int, files: [File])], notPids: Set<String>) {
        let directory = try MetricDirectory(path: path)
        var order: [Int] = []
        var byPid: [Int: [File]] = [:]
        var notPids: Set<String> = []
        for entry in directory.metricFiles() where !entry.isSymlink && entry.parsed.pid != ArchiveContent.pid {
            // Compaction's archives (pid 0) belong to no process: never judged.
            guard let pid = Int(entry.parsed.pid), (1...ProcessTable.maxPid).contains(pid) else {
                notPids.insert(entry.parsed.pid)
                continue
            }
            guard let status = FileStatus.of(entry.name, in: directory.descriptor), status.isRegular else { continue }
            if byPid[pid] == nil { order.append(pid) }
            byPid[pid, default: []].append(File(name: entry.name, parsed: entry.parsed, status: status))
        }
        return (order.map { ($0, byPid[$0]!) }, notPids)
    }

    /// A hash of the files' bytes (FNV-1a over 8-byte words), nil when one cannot be read. Two equal
    /// fingerprints a check apart mean nobody wrote in between (mtime cannot tell: stores
    /// through a shared mapping do not update it on tmpfs).
    static func fingerprint(of names: [String], in path: String) -> UInt64? {
        guard let directory = try? MetricDirectory(path: path) else { return nil }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        for name in names {
            let fd = openat(directory.descriptor, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            while true {
                let n = read(fd, &chunk, chunk.count)
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { return nil }
                if n == 0 { break }
                // Eight bytes a step: a fingerprint needs no byte-exact FNV, only determinism.
                chunk.withUnsafeBytes { raw in
                    var i = 0
                    while i + 8 <= n {
                        hash = (hash ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x100_0000_01b3
                        i += 8
                    }
                    while i < n {
                        hash = (hash ^ UInt64(raw[i])) &* 0x100_0000_01b3
                        i += 1
                    }
                }
            }
        }
        return hash
    }
}
