// MARK: - What this exporter saw of the app's writers

/// Per pid, the metric files this exporter saw written by a process of its own pid namespace
/// holding that pid: the memory that lets ``DeadWorkerFinder`` call a stopped app's workers
/// dead when none of its processes is visible any more (``DeadWorkerRule/deathStands(appVisible:showsForeignPid:sawWriting:)``).
///
/// A sighting is a pid whose holder ``DeadWorkerRule`` found plausibly its files' writer (it
/// maps them, or runs as their owner and started before them), in a check where no holder
/// showed pids of another namespace. It is worth something only for the very files seen: a
/// file is named by name, device:inode and creation time, so a file the app's wipe replaced, a
/// reused inode, or a file another process created under that name later, is not covered.
/// Files no longer listed are forgotten at every check, and so is a pid with none left.
struct WriterSightings: Equatable, Sendable {
    /// One file as seen: its name, and what tells it from a later file of the same name.
    struct File: Hashable, Sendable {
        var name: String
        var identity: DeviceInode
        /// Birth time in nanoseconds (wall clock) where the file system records it, else the
        /// last status change: either way a later file of the same name and inode differs.
        var created: Int64
    }

    private(set) var files: [Int: Set<File>] = [:]

    /// Whether nothing is remembered.
    var isEmpty: Bool { files.isEmpty }

    /// Whether these sightings name a file of a pid that `other` does not: something new
    /// was seen, rather than only forgotten.
    func adds(to other: WriterSightings) -> Bool {
        files.contains { pid, seen in !seen.isSubset(of: other.files[pid] ?? []) }
    }

    /// Pids remembered.
    var count: Int { files.count }

    /// `writing`, the files of `pid` now, were seen written by a process of this namespace
    /// holding `pid`.
    mutating func saw(_ pid: Int, writing: [File]) {
        files[pid, default: []].formUnion(writing)
    }

    /// Whether every one of `current` (the files `pid` has now) was seen written by a holder of
    /// `pid` in this namespace.
    func sawWriting(_ pid: Int, all current: [File]) -> Bool {
        guard let seen = files[pid], !current.isEmpty else { return false }
        return current.allSatisfy(seen.contains)
    }

    /// Forgets every file not in `current` (pid → files listed now, for the pids still judged),
    /// and every pid left without one.
    mutating func keep(only current: [Int: [File]]) {
        for (pid, seen) in files {
            let kept = seen.intersection(current[pid] ?? [])
            files[pid] = kept.isEmpty ? nil : kept
        }
    }
}
