import Glibc
import MultiprocSupport

// MARK: - One compactor per directory, across processes

/// Held for a whole compaction pass (docs/design.md §9, lock 1), so that two processes
/// compacting one directory (`serve --compaction` and a `compact` beside it) take turns.
///
/// Why not a `flock` on the directory: scrapes take that one shared, and held for a whole pass
/// it would stall them. Why not a lock file: a file of ours can make an app's `rmtree` of the
/// directory fail. So: a Unix socket bound in the abstract namespace under the directory's
/// device and inode: no file, released by the kernel however its holder exits, seen by every
/// process of one network namespace (a pod's containers share one; other namespaces or hosts
/// are not kept apart: README, Limits).
struct CompactorLock: ~Copyable {
    private let socket: Int32

    /// The abstract socket name for the directory open as `directory`.
    static func name(of directory: Int32) throws(CompactionFailure) -> String {
        var info = stat()
        guard fstat(directory, &info) == 0 else { throw .io("compaction lock: fstat: \(errnoText(errno))") }
        return "multiproc-exporter/compaction/\(info.st_dev)/\(info.st_ino)"
    }

    /// How long a pass waits for another compactor before it gives up (a pass takes seconds;
    /// anything longer is a stuck process, or one squatting the name, to report).
    static let patience: Double = 120

    /// Waits (polling every 20 ms, at most `timeout` seconds) until no other process holds the
    /// lock of the directory open as `directory`, then holds it until deinit.
    init(directory: Int32, timeout: Double = patience) throws(CompactionFailure) {
        let name = try Self.name(of: directory)
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .io("compaction lock: socket: \(errnoText(errno))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path[0] = 0  // the abstract namespace
            for (i, byte) in bytes.prefix(path.count - 1).enumerated() { path[i + 1] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + min(bytes.count, MemoryLayout.size(ofValue: address.sun_path) - 1))
        var waited = 0.0
        while true {
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
            if bound == 0 { break }
            let error = errno
            guard error == EADDRINUSE || error == EINTR else {
                close(fd)
                throw .io("compaction lock: bind: \(errnoText(error))")
            }
            guard waited < timeout else {
                close(fd)
                throw .io("compaction lock: another process has held @\(name) for \(Int(timeout)) s (a compactor of this "
                          + "directory in this network namespace); this pass gives up")
            }
            usleep(20_000)
            waited += 0.02
        }
        socket = fd
    }

    /// Lets the next compactor in (closing the socket frees the name).
    consuming func release() {}

    deinit { close(socket) }
}
