import Glibc

// MARK: - Passes that cannot go on: undone, or discarded after a wipe

extension Compactor {
    /// What was deleted under a pass that switched no archive yet, and by whom.
    enum Deletion: Equatable {
        /// The app wiped the directory: the journal is gone (`rmtree`, `os.remove` of every
        /// name), or an archive the pass replaces, or every file the pass folds, or every
        /// witness (`rm -f $DIR/*.db`, which may have listed the directory before the renames).
        case wipe(String)
        /// Files of these pids were deleted, and the directory was not wiped (an operator, an
        /// app's hook): those pids are no longer folded, the others wait for the next pass.
        case files(pids: Set<String>, String)
    }

    /// Looks for files of the pass deleted under it. Nothing of ours deletes them, nor does
    /// prometheus_client (`mark_process_dead` deletes only `live` gauges, which never fold).
    func deletion(in pass: PreparedPass) -> Deletion? {
        if !journal.exists { return .wipe("the journal was deleted") }
        for swap in pass.archives where swap.replacedInode != nil && inode(of: swap.name) == nil {
            return .wipe("\(swap.name) was deleted")
        }
        if !pass.witnesses.isEmpty, pass.witnesses.allSatisfy({ inode(of: $0.key) != $0.value }) {
            return .wipe("every other metric file the pass watched (\(pass.witnesses.count)) was deleted")
        }
        let gone = pass.planned.filter { inode(of: Self.foldingName($0.name)) != $0.inode && inode(of: $0.name) != $0.inode }
        if gone.isEmpty { return nil }
        if gone.count == pass.planned.count { return .wipe("every file the pass folds was deleted") }
        return .files(pids: Set(gone.map { MetricFileName($0.name)!.pid }), gone.map(\.name).joined(separator: ", ") + " deleted")
    }

    /// Ends the pass if something of it was deleted (true): discarded after a wipe; undone
    /// otherwise, the pids that lost files forgotten as dead (read as they are now).
    func end(_ pass: PreparedPass, deletion: Deletion?, renamed: [FileSnapshot], ledger: inout CompactionLedger,
             report: inout CompactionReport) throws(CompactionFailure) -> Bool {
        switch deletion {
        case nil:
            return false
        case .wipe(let why):
            try discard(pass, why: why, ledger: &ledger, report: &report)
        case .files(let pids, let why):
            report.errors.append("pass \(pass.id) undone: \(why); pids \(pids.sorted().joined(separator: " ")) no longer folded")
            report.pidsLostFiles += pids.sorted()
            try undo(pass, renamed: renamed, ledger: &ledger, revived: pids)
        }
        return true
    }

    /// Ends a pass the app's wipe overtook: what the pass still holds of the wiped directory
    /// (its folding files, its temporaries) is deleted, not put back where the wipe would no
    /// longer find it; the pass is aborted and its pids forgotten. Only files that are the
    /// pass's own (same inode) are deleted.
    func discard(_ pass: PreparedPass, why: String, ledger: inout CompactionLedger,
                 report: inout CompactionReport) throws(CompactionFailure) {
        for file in pass.planned {
            switch inode(of: Self.foldingName(file.name)) {
            case .some(file.inode): unlinkat(directory, Self.foldingName(file.name), 0)
            case nil: break
            // Not the planned file: a new worker's, moved in a race with the check before the
            // rename. It goes back (or stays, reported, when its name was taken again).
            case .some: if !renameBack(file.name, to: file.name) { report.errors.append("\(Self.foldingName(file.name)): not ours, left") }
            }
        }
        for swap in pass.archives { unlinkat(directory, swap.temporary, 0) }
        let records = [JournalRecord.abort(pass: pass.id)] + pass.pids.map { .forget(pid: $0) }
        do { try journal.append(records, ifPresent: true) } catch { throw .journal(error) }
        for record in records { ledger.apply(record) }
        report.passesWiped.append("pass \(pass.id): \(why); its files are deleted, not put back")
    }

    /// Undoes a pass whose archives were not switched: files renamed back, temporaries
    /// removed, `abort` journalled, `revived` pids forgotten. A renamed file whose name a new
    /// process took meanwhile (a reused pid) cannot go back: it moves to a name of a pid no
    /// process can have, and is recorded dead there, so it stays counted and a later pass
    /// folds it.
    func undo(_ pass: PreparedPass, renamed: [FileSnapshot], ledger: inout CompactionLedger,
              revived: Set<String>) throws(CompactionFailure) {
        var records = [JournalRecord.abort(pass: pass.id)] + revived.sorted().map { .forget(pid: $0) }
        var orphans: [String: String] = [:]  // original pid → orphan pid
        // A file deleted since its rename (its pid lost it) has nothing to put back.
        for file in renamed where exists(Self.foldingName(file.name)) && !renameBack(file.name, to: file.name) {
            let original = MetricFileName(file.name)!.pid
            let pid: String
            if let known = orphans[original] {
                pid = known
            } else {
                pid = Self.orphanPid(pass: pass.id, ordinal: orphans.count)
                orphans[original] = pid
                records.append(.dead(pid: pid, markedAt: 0))  // its files are the records that follow
            }
            let orphan = MetricFileName(file.name)!.renamed(pid: pid)
            guard renameBack(file.name, to: orphan), let snapshot = (try? FileSnapshot.take(orphan, in: directory)) ?? nil else {
                throw .io("\(Self.foldingName(file.name)): cannot be put back under a metric name; left as it is")
            }
            records.append(.file(pid: pid, snapshot))
        }
        for swap in pass.archives { unlinkat(directory, swap.temporary, 0) }
        do { try journal.append(records, ifPresent: true) } catch { throw .journal(error) }
        for record in records { ledger.apply(record) }
    }

    /// A pid for the files of the `ordinal`-th pid whose files an undo could not put back:
    /// `<pid_max + 1><pass: 8 digits><ordinal: 4 digits>`, fixed width, so that it is above
    /// any real pid (``ProcessTable/maxPid``), unique per pass and pid (passes wrap after 10⁸),
    /// 19 digits at most (an `Int`, and within ``MetricFileName/maxPidDigits``).
    static func orphanPid(pass: Int, ordinal: Int) -> String {
        func padded(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(ProcessTable.maxPid + 1)" + padded(pass % 100_000_000, 8) + padded(ordinal % 10_000, 4)
    }

    /// Renames the folding file of `name` to `target` unless something holds `target` (link, then
    /// unlink: a rename that never replaces).
    func renameBack(_ name: String, to target: String) -> Bool {
        guard linkat(directory, Self.foldingName(name), directory, target, 0) == 0 else { return false }
        unlinkat(directory, Self.foldingName(name), 0)
        return true
    }
}
