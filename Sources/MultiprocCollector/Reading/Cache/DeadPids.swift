// MARK: - Pids marked dead, and the files they freeze

/// The pids marked dead through ``DirectoryCollector/markDead(pid:)``, as the cache uses them:
/// the one type that freezes and thaws files.
///
/// Nobody writes a dead pid's files any more, so after one last read its files (but the live
/// gauges, which mark-dead removes) are *frozen* (``TrackedFile/ReadState/frozen``): no
/// refresh reads them again, their values are folded once (``FoldCache``), and only their
/// 8-byte headers are watched.
///
/// ## The frozen invariant
/// A file is frozen only
/// 1. while its pid is in ``pids``: a pid that thaws thaws all its files;
/// 2. from the end of the refresh that recorded its pid's death
///    (``record(_:files:)`` at the start of that refresh, ``freeze(_:recordedNow:files:)`` at
///    its end), which read the file once more;
/// 3. with the content that refresh read: a file that starts over
///    (``TrackedFile/startOver(_:)``: rewritten, shrunk, replaced) is frozen no more, and a
///    dead pid's file that a later refresh reads (read afresh, or unreadable when the pid died)
///    thaws the pid: a new worker wrote it.
///
/// Only this type freezes and thaws: ``TrackedFile/freeze(_:)`` and ``TrackedFile/thaw(_:)``
/// take a ``Permit``, which only this file can make. What the invariant gives the rest of the
/// cache: frozen files are never refreshed nor loaded (``CacheState``), and a fold of their
/// values stays valid while the same files are frozen, in the same order (``FoldCache``).
///
/// ## Thawing
/// A dead pid comes back to life (it *thaws*: its files are read normally again) when a new
/// worker shows that it reuses the pid: a live gauge file appears, a file appears that was not
/// there when the pid died (new name or new inode), a frozen file's `used` changes (it added a
/// series), a file is rewritten through system calls, or a file that could not be read when
/// the pid died (empty, cut below its header) is read now. A reuser that only updates
/// existing series in place shows none of these until it is marked dead in turn, which reads
/// its files once more. Compaction's archives (pid 0) are never frozen: mark-dead refuses pid
/// 0, and a process whose `process_identifier` is 0 writes the same names.
struct DeadPids {
    /// Pids as file names spell them: ASCII digits (``MetricFileName``), so `String` equality
    /// is byte equality here.
    private var pids: Set<String> = []

    /// What freezing and thawing a file takes: only ``DeadPids`` makes one (its initializer
    /// is private to this file), so no other type freezes or thaws behind the invariant's back.
    struct Permit {
        fileprivate init() {}
    }

    private static let permit = Permit()

    var isEmpty: Bool { pids.isEmpty }

    /// Every pid marked dead (for a cache that starts afresh: ``CacheState``).
    var all: [String] { Array(pids) }

    /// Records pids marked dead since the last refresh, at the start of a refresh; returns
    /// them for ``freeze(_:recordedNow:files:)`` at its end. A pid marked dead again had its
    /// files frozen as of an earlier death: they are read once more before freezing again.
    mutating func record(_ newlyDead: [String], files: [String: TrackedFile]) -> Set<String> {
        for pid in newlyDead {
            thaw(pid, files: files)
            pids.insert(pid)
        }
        return Set(newlyDead)
    }

    /// Thaws every dead pid that shows signs of reuse in `listing` (see the type's doc) or
    /// whose files were `rewritten` through system calls (whatever they hold now is new).
    /// Runs before any file is read, so a thawed pid's files are all read in this scrape.
    /// Returns the `SIGBUS` faults absorbed while reading the frozen files' headers.
    @discardableResult
    mutating func thawReused(_ listing: [MetricDirectory.ListedFile], files: [String: TrackedFile], rewritten: [TrackedFile]) -> Int {
        guard !pids.isEmpty else { return 0 }
        var reused = rewritten.map(\.parsedName.pid)
        var frozen: [TrackedFile] = []
        for listed in listing where pids.contains(listed.parsed.pid) {
            guard let known = files[listed.name], known.listedInode == listed.inode, listed.parsed.gaugeMode?.isLive != true else {
                reused.append(listed.parsed.pid)  // a live gauge file, or one that was not there when the pid died
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

    /// At the end of a refresh: the files of the pids it recorded (`recordedNow`) that it read
    /// are final, and freeze. A dead pid's file read by a later refresh thaws the pid.
    mutating func freeze(_ merged: [TrackedFile], recordedNow: Set<String>, files: [String: TrackedFile]) {
        for file in merged where !file.isFrozen && file.parsedName.gaugeMode?.isLive != true {
            let pid = file.parsedName.pid
            guard pids.contains(pid) else { continue }
            if recordedNow.contains(pid) { file.freeze(Self.permit) } else { thaw(pid, files: files) }
        }
    }

    /// Pids that are not dead after all (their files changed: a reused pid) or whose files
    /// are gone (folded into the archives): their files, if any, are read normally.
    mutating func forget(_ forgotten: [String], files: [String: TrackedFile]) {
        for pid in forgotten { thaw(pid, files: files) }
    }

    /// A pid marked dead is alive again: its files are read normally.
    private mutating func thaw(_ pid: String, files: [String: TrackedFile]) {
        guard pids.remove(pid) != nil else { return }
        for file in files.values where file.parsedName.pid == pid { file.thaw(Self.permit) }
    }
}
