import Glibc

// MARK: - Passes that cannot go on: undone, or discarded after a wipe

extension Compactor {
    /// Signs that the app wiped the directory under a pass that switched no archive yet: the
    /// journal gone (`rmtree`, `os.remove` of every name), an archive the pass replaces gone,
    /// or one of its planned files under neither its name nor its folding name (`rm -f *.db`).
    /// Nothing but a wipe deletes them (prometheus_client's `mark_process_dead` deletes only
    /// `live` gauges, which are never folded). The reason, or nil.
    func wipe(of pass: PreparedPass) -> String? {
        if !journal.exists { return "the journal was deleted" }
        for swap in pass.archives where swap.replacedInode != nil && inode(of: swap.name) == nil {
            return "\(swap.name) was deleted"
        }
        for file in pass.planned where inode(of: Self.foldingName(file.name)) != file.inode && inode(of: file.name) != file.inode {
            return "\(file.name) was deleted"
        }
        return nil
    }

    /// Ends a pass the app's wipe overtook: what the pass still holds of the wiped directory
    /// (its folding files, its temporaries) is deleted, not put back where the wipe would no
    /// longer find it; the pass is aborted and its pids forgotten. Only files that are the
    /// pass's own (same inode) are deleted.
    func discard(_ pass: PreparedPass, why: String, ledger: inout CompactionLedger,
                         report: inout CompactionReport) throws(CompactionFailure) {
        for file in pass.planned where inode(of: Self.foldingName(file.name)) == file.inode {
            unlinkat(directory, Self.foldingName(file.name), 0)
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
        for file in renamed where !renameBack(file.name, to: file.name) {
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
