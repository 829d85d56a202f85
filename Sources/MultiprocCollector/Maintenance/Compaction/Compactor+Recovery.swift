import Glibc

// MARK: - Settling a pass a crash interrupted

extension Compactor {
    /// Settles a pass the journal began and did not end (a crash). Finished only when it must
    /// be: once one of its archives was switched (its planned files are in it), and then only
    /// when every other temporary is intact and every planned file as planned — else an error
    /// for an operator, which the switch's order makes impossible unless someone deleted its
    /// files. A pass that switched nothing is undone (nothing visible changed; its pids are
    /// folded by the next pass, checked again), or, when the app wiped the directory since,
    /// discarded like a switch that meets a wipe. Committed passes get their leftovers deleted.
    mutating func recover(_ ledger: inout CompactionLedger, report: inout CompactionReport) throws(CompactionFailure) -> CompactionReport.Recovery? {
        removeStrayTemporaries(ledger)
        var outcome: CompactionReport.Recovery?
        for id in ledger.passes.keys.sorted() {
            let pass = ledger.passes[id]!
            if pass.committed {
                try finishCommitted(id, planned: pass.planned, pids: pids(of: pass.planned), ledger: &ledger)
                continue
            }
            let prepared = PreparedPass(id: id, planned: pass.planned, archives: pass.archives, pids: pids(of: pass.planned), valueOffsets: [:],
                                        witnesses: pass.witnesses)
            if pass.archives.contains(where: switched) {
                guard pass.ready, canFinish(pass) else {
                    throw .io("compaction pass \(id) was interrupted after switching archives and cannot be finished "
                              + "(a temporary or planned file is missing or changed); its files are left as they are")
                }
                // Every planned file was renamed before the first switch; a name taken back is folded.
                for file in pass.planned where location(of: file) == .original {
                    renameat(directory, file.name, directory, Self.foldingName(file.name))
                }
                for swap in pass.archives where exists(swap.temporary) {
                    // Switched already (or the new content is the old one): the temporary goes.
                    if archiveHash(swap.name) == swap.hash {
                        unlinkat(directory, swap.temporary, 0)
                    } else if renameat(directory, swap.temporary, directory, swap.name) != 0 {
                        throw .io("\(swap.name): rename: \(errnoText(errno))")
                    }
                }
                fsync(directory)
                do { try journal.append([.commit(pass: id)]) } catch { throw .journal(error) }
                ledger.apply(.commit(pass: id))
                try finishCommitted(id, planned: pass.planned, pids: prepared.pids, ledger: &ledger)
                outcome = .rolledForward
            } else {
                let renamed = pass.planned.filter { inode(of: Self.foldingName($0.name)) == $0.inode }
                if try !end(prepared, deletion: deletion(in: prepared), renamed: renamed, ledger: &ledger, report: &report) {
                    try undo(prepared, renamed: renamed, ledger: &ledger, revived: [])
                }
                outcome = .rolledBack
            }
        }
        return outcome
    }

    /// Whether an interrupted pass can be finished: every archive either switched already or
    /// still the one the pass replaces with its temporary intact, and every planned file
    /// (under its name or renamed) exactly as planned.
    func canFinish(_ pass: CompactionLedger.Pass) -> Bool {
        for swap in pass.archives where archiveHash(swap.name) != swap.hash {
            guard inode(of: swap.name) == swap.replacedInode,
                  let temporary = try? FileSnapshot.take(swap.temporary, in: directory), temporary.hash == swap.hash else { return false }
        }
        for file in pass.planned where location(of: file) == nil {
            // Gone (deleted after a switch) is fine only once some archive was switched, and
            // never when something else holds its name or folding name with other content.
            guard pass.archives.contains(where: switched), !exists(Self.foldingName(file.name)) else { return false }
        }
        return true
    }

    /// Temporary archives of passes the journal does not know (a crash before `ready`), and a
    /// journal rewrite's temporary: never part of anything, so they go.
    func removeStrayTemporaries(_ ledger: CompactionLedger) {
        let known = Set(ledger.passes.values.flatMap { $0.archives.map(\.temporary) })
        for name in MetricDirectory.otherNames(of: directory)
        where name.hasPrefix("multiproc-exporter.") && name.hasSuffix(".tmp") && !known.contains(name) {
            unlinkat(directory, name, 0)
        }
    }
}
