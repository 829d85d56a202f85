// MARK: - Pids marked dead, and the files they froze

/// The pids marked dead through ``DirectoryCollector/markDead(pid:)``, as the cache uses them.
///
/// Nobody writes a dead pid's files any more, so after one last read its non-live files are
/// *frozen*: their values are folded once (``DeadFold``) and never loaded again, and only their
/// 8-byte headers are watched. The invariant this type keeps: a file is frozen only while its
/// pid is in ``pids``, and only by the scrape that took the pid's death into account (the
/// first after ``DirectoryCollector/markDead(pid:)``), which read it once more.
///
/// A dead pid comes back to life (it *thaws*: its files are read normally again) when a new
/// worker shows that it reuses the pid: a live gauge file appears, a file appears that was not
/// there when the pid died (new name or new inode), a frozen file's `used` changes (it added a
/// series), a file is rewritten through system calls, or a file that could not be read when
/// the pid died (empty, cut below its header) is read now. A reuser that only updates
/// existing series in place shows none of these until it is marked dead in turn, which reads
/// its files once more.
///
struct DeadPids {
    /// Pids as file names spell them: ASCII digits (``MetricFileName``), so `String` equality
    /// is byte equality here.
    private var pids: Set<String> = []
    /// The pids recorded by the refresh under way: their files read in it freeze at its end.
    private var recordedNow: Set<String> = []

    var isEmpty: Bool { pids.isEmpty }

    /// Records pids marked dead since the last refresh. A pid marked dead again had its files
    /// frozen as of an earlier death: they are read once more before freezing again.
    mutating func record(_ newlyDead: [String], files: [String: TrackedFile]) {
        recordedNow = Set(newlyDead)
        for pid in newlyDead {
            thaw(pid, files: files)
            pids.insert(pid)
        }
    }

    /// Thaws every dead pid that shows signs of reuse in `listing` (see the type's doc) or
    /// whose files were `rewritten` through system calls (whatever they hold now is new).
    /// Runs before any file is read, so a thawed pid's files are all read in this scrape.
    /// Returns the `SIGBUS` faults absorbed while reading the frozen files' headers.
    @discardableResult
    mutating func thawReused(_ listing: [MetricDirectory.Entry], files: [String: TrackedFile], rewritten: [TrackedFile]) -> Int {
        guard !pids.isEmpty else { return 0 }
        var reused = rewritten.map(\.parsedName.pid)
        var frozen: [TrackedFile] = []
        for entry in listing where pids.contains(entry.parsed.pid) {
            guard let known = files[entry.name], known.listedInode == entry.inode, entry.parsed.gaugeMode?.isLive != true else {
                reused.append(entry.parsed.pid)  // a live gauge file, or one that was not there when the pid died
                continue
            }
            if known.isFrozen { frozen.append(known) }
        }
        // One guard for all the header reads. A file truncated under its mapping faults in
        // here; its faulting page now reads zeros, so that mapping must go (the file is read
        // from scratch), and its pid thaws: its content changed.
        let (changed, faults) = SigbusGuard.readAnyMapping { frozen.filter { !$0.frozenHeaderUnchanged() } }
        reused += changed.map(\.parsedName.pid)
        if faults.happened {
            for file in frozen where file.mapping.map({ faults.hit($0.bytes) }) ?? false { file.startOver(.shrank) }
        }
        for pid in reused { thaw(pid, files: files) }
        return faults.count
    }

    /// Once the scrape that took a pid's death into account has read them, the pid's non-live
    /// files are final. A dead pid's file read for the first time by a later scrape (it could
    /// not be read when the pid died) was written by a new worker: the pid thaws. (Compaction's
    /// archives are read like any file: a process whose `process_identifier` is 0 writes the
    /// same names, and a few thousand values a scrape cost microseconds.)
    mutating func freeze(_ merged: [TrackedFile], files: [String: TrackedFile]) {
        for file in merged where !file.isFrozen && file.parsedName.gaugeMode?.isLive != true {
            let pid = file.parsedName.pid
            guard pids.contains(pid) else { continue }
            if recordedNow.contains(pid) { file.freeze() } else { thaw(pid, files: files) }
        }
    }

    /// Every pid marked dead (for a cache that starts afresh: ``CacheState``).
    var all: [String] { Array(pids) }

    /// Pids that are not dead after all (their files changed: a reused pid) or whose files
    /// are gone (folded into the archives): their files, if any, are read normally.
    mutating func forget(_ forgotten: [String], files: [String: TrackedFile]) {
        for pid in forgotten { thaw(pid, files: files) }
    }

    /// A pid marked dead is alive again: its files are read normally.
    private mutating func thaw(_ pid: String, files: [String: TrackedFile]) {
        guard pids.remove(pid) != nil else { return }
        for file in files.values where file.parsedName.pid == pid { file.thaw() }
    }
}
