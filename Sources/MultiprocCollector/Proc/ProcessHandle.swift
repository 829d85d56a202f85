import Glibc

// MARK: - A process's /proc entry, held open

/// `/proc/<pid>` and its `stat` held open for a process read again and again (a live worker,
/// on every scrape).
///
/// Why hold them: a descriptor of `/proc/<pid>` belongs to that process, not to the number.
/// Once it is reaped, reads through it fail (`ESRCH`, `ENOENT`) even if a new process takes
/// the pid, so a reused pid can never be read as the old process. And a read through it skips
/// the path lookup: `pread` of the open `stat` costs about half of `open`, `read`, `close`.
/// The price is two descriptors per process; ``WorkerCollector`` holds them for a bounded
/// number of processes and reads the others by path.
final class ProcessHandle: @unchecked Sendable {
    // Invariant: both descriptors stay open, unchanged, until deinit.
    private let directory: Int32
    private let statFile: Int32
    private let table: ProcessTable

    /// Opens `pid`'s entry in `table`'s `/proc`; nil when it cannot be opened (gone, hidden),
    /// or `table` is no real `/proc` (a test tree's files are replaced, not rewritten in place).
    init?(pid: Int, in table: ProcessTable) {
        guard table.probesWithSignal else { return nil }
        let directory = open("\(table.root)/\(pid)", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { return nil }
        let statFile = openat(directory, "stat", O_RDONLY | O_CLOEXEC)
        guard statFile >= 0 else {
            close(directory)
            return nil
        }
        self.directory = directory
        self.statFile = statFile
        self.table = table
    }

    deinit {
        close(statFile)
        close(directory)
    }

    /// `stat`, read again from the start.
    func stat() -> Result<ProcessStat, ProcReadFailure> {
        ProcessTable.readWhole(statFile, capacity: 1024, from: 0) { ProcessStat(parsing: $0) }
    }

    /// Open file descriptors, as ``ProcessTable/openDescriptors(of:)`` counts them.
    func openDescriptors() -> Result<Int, ProcReadFailure> {
        table.openDescriptors(relativeTo: directory, path: "fd")
    }
}
