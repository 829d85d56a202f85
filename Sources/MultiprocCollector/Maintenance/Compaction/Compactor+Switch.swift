import Glibc

// MARK: - Steps 3 to 5: check, commit each archive, settle; and settling after a crash

extension Compactor {
    /// What stops a planned pass at its check (step 3), before anything changed.
    enum Obstacle: Equatable {
        /// The app wiped the directory: the journal, an archive the pass replaces, or every
        /// file it folds was deleted.
        case wipe(String)
        /// Files of these pids were deleted, the directory not wiped (an operator, a hook):
        /// those pids are no longer folded; the others wait for the next pass.
        case lostFiles(Set<String>, String)
        /// Files of these pids changed since the plan (a reused pid writes them again).
        case changed(Set<String>)
        /// Files of these pids are mapped for writing by some process (a reused pid).
        case inUse(Set<String>)
        /// An archive is not the one the pass read (another compactor, not kept out by the lock).
        case archiveReplaced(String)
        /// A process maps an archive for writing: it uses pid 0 (see ``Compactor/pidZeroInUse``).
        case archiveWritten
    }

    /// Step 3: whether everything the pass planned is still so. Under the switch locks.
    func obstacle(to pass: PlannedPass) -> Obstacle? {
        guard journal.exists else { return .wipe("the journal was deleted") }
        if let obstacle = replacedArchive(among: pass.archives[...]) { return obstacle }
        var gone: [FileFingerprint] = [], changed = Set<String>()
        for file in pass.files {
            switch (try? FileFingerprint.take(file.name, in: directory)) ?? nil {
            case nil: gone.append(file)
            case let now? where !now.unchanged(as: file): changed.insert(MetricFileName(file.name)!.pid)
            default: break
            }
        }
        if let obstacle = deletion(of: gone, among: pass.files) { return obstacle }
        if !changed.isEmpty { return .changed(changed) }
        // A process of a reused pid that opened a file after the plan's look at the maps.
        let busy = pidsMappingForWriting(pass.files, archives: existingArchives())
        if busy.contains(ArchiveContent.pid) { return .archiveWritten }
        return busy.isEmpty ? nil : .inUse(busy)
    }

    /// An archive that is not the one the pass read: deleted (a wipe) or replaced.
    private func replacedArchive(among archives: ArraySlice<NewArchive>) -> Obstacle? {
        guard let archive = archives.first(where: { inode(of: $0.name) != $0.replacedInode }) else { return nil }
        if archive.replacedInode != nil, inode(of: archive.name) == nil { return .wipe("\(archive.name) was deleted") }
        return .archiveReplaced("\(archive.name) changed since the pass read it (another compactor?)")
    }

    /// What the deletion of `gone` among `files` means: a wipe when every one is gone.
    private func deletion(of gone: [FileFingerprint], among files: [FileFingerprint]) -> Obstacle? {
        guard !gone.isEmpty else { return nil }
        if gone.count == files.count { return .wipe("every file the pass folds was deleted") }
        return .lostFiles(Set(gone.map { MetricFileName($0.name)!.pid }), gone.map(\.name).joined(separator: ", ") + " deleted")
    }

    /// What the switch did: the archives committed (for ``MonotonicGuard``, which must run
    /// whenever one was), and why it stopped early, if it did.
    struct SwitchOutcome {
        var committed: [NewArchive] = []
        var failure: CompactionFailure?
    }

    /// Steps 3 to 5, under the collector's state lock and the directory's exclusive `flock`.
    func switchArchives(_ pass: PlannedPass, ledger: inout CompactionLedger, report: inout CompactionReport) -> SwitchOutcome {
        var outcome = SwitchOutcome()
        var forget: Set<String> = []
        var settled = true
        do throws(CompactionFailure) {
            try stop(.check)
            if let obstacle = obstacle(to: pass) {
                for archive in pass.archives { archive.temporary.discard(in: directory) }
                forget = end(pass, at: obstacle, report: &report)
            } else {
                for i in pass.archives.indices {
                    switch try commit(pass.archives[i...], pass: pass.id, report: &report) {
                    case .committed(let filesGone):
                        outcome.committed.append(pass.archives[i])
                        settled = settled && filesGone
                        continue
                    case .stopped(let obstacle):
                        for later in pass.archives[i...] { later.temporary.discard(in: directory) }
                        forget = end(pass, at: obstacle, report: &report)
                    }
                    break
                }
            }
            // Step 5: the pids whose every file is folded are forgotten; the pass is settled,
            // unless a folded file could not be deleted: its commit stays pending (scrapes leave
            // the file out, ``PendingFolds``) and the next pass's step 0 tries again.
            try stop(.journalDone)
            let unfolded = Set(pass.archives[outcome.committed.count...].flatMap(\.files).map { MetricFileName($0.name)!.pid })
            let folded = outcome.committed.isEmpty ? [] : pass.pids.filter { !unfolded.contains($0) }
            try record(forgetting: forget.union(folded).sorted(), in: &ledger, done: settled ? pass.id : nil)
            report.pidsFolded += folded
        } catch {
            outcome.failure = error
        }
        report.filesFolded += outcome.committed.reduce(0) { $0 + $1.files.count }
        report.bytesFolded += outcome.committed.reduce(0) { $0 + $1.files.reduce(0) { $0 + $1.size } }
        return outcome
    }

    private enum CommitOutcome {
        /// Renamed; `filesGone`: every folded file deleted (or kept as another process's).
        case committed(filesGone: Bool)
        /// Stopped before the rename (the pass's `done` settles the commit journalled).
        case stopped(Obstacle)
    }

    /// Step 4 for the first of `remaining`: name its temporary, journal the commit, look once
    /// more, rename the temporary over the archive (the commit), delete the files it folds.
    private func commit(_ remaining: ArraySlice<NewArchive>, pass: Int,
                        report: inout CompactionReport) throws(CompactionFailure) -> CommitOutcome {
        let archive = remaining.first!
        try stop(.nameTemporary)
        try archive.temporary.link(in: directory)
        try stop(.journalCommit)
        let records = archive.files.map { JournalRecord.fold(pass: pass, archive: archive.name, $0) } + [.commit(pass: pass, archive.swap)]
        do { try journal.append(records) } catch {
            if !journal.exists { return .stopped(.wipe("the journal was deleted during the switch")) }
            throw .journal(error)
        }
        try stop(.replaceArchive)
        // The last look before the rename: the journal, the archives and files left, by identity.
        let files = Array(remaining.flatMap(\.files))
        if let obstacle = (journal.exists ? nil : .wipe("the journal was deleted during the switch")) ?? replacedArchive(among: remaining)
            ?? deletion(of: files.filter { inode(of: $0.name) != $0.inode }, among: files) {
            return .stopped(obstacle)
        }
        guard renameat(directory, archive.temporary.name, directory, archive.name) == 0 else {
            // The commit stays pending: the next pass's step 0 deletes the temporary.
            throw .io("\(archive.name): rename: \(errnoText(errno))")
        }
        fsync(directory)
        try stop(.deleteFiles)
        return .committed(filesGone: deleteFolded(archive.files, report: &report))
    }

    /// Deletes each folded file that is still exactly as folded; returns false when one could
    /// not be deleted (reported: it stays counted in its archive, and scrapes leave it out while
    /// its commit is pending). A file that changed since it was folded, or that a process maps
    /// for writing (`checkingMaps`, after a crash: a reused pid's process may have opened it
    /// since), belongs to a running process and is never deleted; that is reported too (its
    /// earlier counts are then in the archive as well).
    func deleteFolded(_ files: [FileFingerprint], checkingMaps: Bool = false, report: inout CompactionReport) -> Bool {
        let inUse = checkingMaps ? pidsMappingForWriting(files) : []
        var allGone = true
        for file in files {
            guard let now = (try? FileFingerprint.take(file.name, in: directory)) ?? nil, now.inode == file.inode else { continue }
            if !now.unchanged(as: file) || inUse.contains(MetricFileName(file.name)!.pid) {
                report.errors.append("\(file.name) was folded into its archive, but a process writes it (a reused pid): kept, "
                                     + "its earlier counts are in the archive too")
            } else if unlinkat(directory, file.name, 0) != 0, errno != ENOENT {
                report.errors.append("\(file.name): folded into its archive, but cannot be deleted (\(errnoText(errno))): "
                                     + "left out of scrapes until a later pass deletes it")
                allGone = false
            }
        }
        return allGone
    }

    /// Reports why a pass stops at `obstacle` (its temporaries are gone already) and returns
    /// the pids that are no longer dead because of it; the others wait for the next pass.
    private func end(_ pass: PlannedPass, at obstacle: Obstacle, report: inout CompactionReport) -> Set<String> {
        switch obstacle {
        case .wipe(let why):
            report.passesWiped.append("pass \(pass.id): \(why); what it prepared is deleted, nothing is put back")
            return Set(pass.pids)
        case .lostFiles(let lost, let why):
            report.pidsLostFiles += lost.sorted()
            report.errors.append("pass \(pass.id) stopped: \(why); pids \(lost.sorted().joined(separator: " ")) no longer folded")
            return lost
        case .changed(let revived):
            report.pidsRevived += revived.sorted()
            return revived
        case .inUse(let busy):
            report.pidsInUse += busy.sorted()
            return []
        case .archiveReplaced(let why):
            report.errors.append("pass \(pass.id) stopped: \(why)")
            return []
        case .archiveWritten:
            report.errors.append("pass \(pass.id) stopped: " + Compactor.pidZeroInUse)
            return []
        }
    }

    // MARK: Settling (step 0)

    /// Settles the commits a crash left pending (docs/design.md §9, step 0): an archive that
    /// holds its new content gets the files it folds deleted (those still exactly as folded
    /// and mapped by no process); any other commit gets its temporary deleted. Temporaries no
    /// commit names are deleted too. Under the switch locks. Returns how the last unsettled
    /// pass was settled.
    func settle(_ ledger: inout CompactionLedger, report: inout CompactionReport) throws(CompactionFailure) -> CompactionReport.Recovery? {
        deleteStrayTemporaries(ledger)
        var outcome: CompactionReport.Recovery?
        for id in ledger.unsettled.keys.sorted() {
            var switched = false, settled = true
            let commits = ledger.unsettled[id]!
            for commit in commits {
                if holdsNewContent(commit.swap) {
                    switched = true
                    settled = deleteFolded(commit.files, checkingMaps: true, report: &report) && settled
                } else if inode(of: Self.temporaryName(pass: id, archive: commit.swap.name)) == commit.swap.newInode {
                    unlinkat(directory, Self.temporaryName(pass: id, archive: commit.swap.name), 0)
                }
            }
            let files = commits.flatMap(\.files)
            if !switched, case .wipe(let why)? = deletion(of: files.filter { inode(of: $0.name) != $0.inode }, among: files) {
                report.passesWiped.append("pass \(id): \(why) before the restart; its temporaries are deleted, nothing is put back")
            }
            fsync(directory)
            if settled { try record(forgetting: [], in: &ledger, done: id) }
            outcome = switched ? .rolledForward : .rolledBack
        }
        return outcome
    }

    /// Temporaries of passes that never journalled their commit (a crash between naming one
    /// and its commit, or a build without `O_TMPFILE`), and a journal rewrite's temporary.
    func deleteStrayTemporaries(_ ledger: CompactionLedger) {
        let pending = Set(ledger.unsettled.flatMap { id, commits in commits.map { Self.temporaryName(pass: id, archive: $0.swap.name) } })
        for name in MetricDirectory.otherNames(of: directory)
        where name.hasPrefix("multiproc-exporter.") && name.hasSuffix(".tmp") && !pending.contains(name) {
            unlinkat(directory, name, 0)
        }
    }

    /// Whether archive `swap.name` holds the content `swap` committed: its rename happened.
    func holdsNewContent(_ swap: JournalRecord.ArchiveSwap) -> Bool {
        guard let archive = (try? FileFingerprint.take(swap.name, in: directory)) ?? nil else { return false }
        return archive.inode == swap.newInode && archive.hash == swap.hash
    }
}
