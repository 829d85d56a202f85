// MARK: - Which pids name metric files

/// The pids that name metric files in the directory, each with the identity of its files
/// (names and inode numbers), grouped again only when the directory's listing changed
/// (``ListingCache``: a `stat` of the directory per look while nothing is created or removed).
struct PidListing {
    /// What a pid's files are: a pid whose files are no longer the same ones is looked at again.
    struct Files: Equatable {
        var names: [String] = []
        var inodes: [UInt64] = []
    }

    private var cache = ListingCache()
    /// Files by pid, as of the last listing. Archives (pid 0), symbolic links and numbers no
    /// Linux pid can be (custom `process_identifier` values) are left out.
    private(set) var byPid: [Int: Files] = [:]

    /// Lists the directory open as `directory` if it changed; returns whether ``byPid`` may
    /// have changed.
    mutating func refresh(_ directory: borrowing MetricDirectory) -> Bool {
        let entries = cache.files(of: directory, version: directory.version())
        guard !cache.lastWasKept else { return false }
        var grouped: [Int: Files] = [:]
        for entry in entries where !entry.isSymlink {
            guard let pid = Int(entry.parsed.pid), (1...ProcessTable.maxPid).contains(pid) else { continue }
            grouped[pid, default: Files()].names.append(entry.name)
            grouped[pid, default: Files()].inodes.append(entry.inode)
        }
        byPid = grouped
        return true
    }

    /// The directory could not be opened: nothing is listed.
    mutating func clear() {
        cache.forget()
        byPid = [:]
    }
}
