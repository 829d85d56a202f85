import Glibc
import MultiprocSupport

// MARK: - Listing the directory for the dead-worker finder

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
            // The shared opener: a FIFO swapped in since the listing must not block the check.
            guard let fd = try? FileContents.openRegular(name, in: directory.descriptor, flags: O_RDONLY).fd else { return nil }
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
