import Glibc
import MultiprocSupport

// MARK: - Compaction through the collector

extension DirectoryCollector {

    /// Folds the files of pids marked dead at least `delay` seconds ago into archive files, so
    /// the directory holds the live workers' files plus a few archives however many workers
    /// came and went. One pass; call it periodically (`serve --compaction`) or from cron
    /// (`multiproc-exporter compact`).
    ///
    /// Guarantees (see the README's "Compaction" for the protocol and its limits):
    /// - a pid is folded only if every file it had when marked dead is still there, byte for
    ///   byte, no process maps it, and nothing changed between the last check and the rename
    ///   that takes it out of the way; a pid whose files changed is alive again (reused);
    /// - no scrape of this collector sees a pass half done (the switch runs under the scrape
    ///   lock), and no counter served goes down across it (``MonotonicGuard``);
    /// - a pass interrupted anywhere (`kill -9`) is finished or undone by the next pass or
    ///   ``recoverCompaction()``; nothing is lost or counted twice.
    ///
    /// Blocks: the pass reads and writes files; scrapes wait only for the switch. Scrapes of
    /// other processes (a second exporter, `dump`) wait for it too: the switch holds the
    /// directory's `flock` exclusively, which every refresh takes shared. Passes of other
    /// processes wait for this one (``CompactorLock``, at most ``CompactorLock/patience``).
    public func compact(delay: Double) -> CompactionReport {
        runCompaction(rewritingJournal: true) { compactor, directoryHandle, ledger, report throws(CompactionFailure) in
            try recover(&compactor, directoryHandle, &ledger, &report)
            guard let pass = try compactor.prepare(&ledger, delay: delay, now: Self.wallClock(), report: &report) else {
                forgetInCache(report.pidsRevived)
                return
            }
            try withSwitchLocks(directoryHandle) { cache throws(CompactionFailure) in
                let before = cache.refresh(path: directory, newlyDead: takeNewlyDead(), sharedLock: false)
                // Folded pids stay dead in the cache: what is left of them (`all` gauges)
                // stays frozen. Revived ones are read normally again.
                if try compactor.switchArchives(pass, ledger: &ledger, report: &report) {
                    keepCountersMonotonic(cache: &cache, before: before, pass: pass, directory: compactor.directory, report: &report)
                }
                cache.forgetDeadPids(report.pidsRevived + report.pidsLostFiles)
            }
        }
    }

    /// Settles a compaction pass that a crash interrupted (finishes it if it can, else undoes
    /// it), so that what is served next counts every sample once. `serve` calls it before it
    /// listens; ``compact(delay:)`` does it first too.
    public func recoverCompaction() -> CompactionReport {
        runCompaction(rewritingJournal: false) { compactor, directoryHandle, ledger, report throws(CompactionFailure) in
            try recover(&compactor, directoryHandle, &ledger, &report)
        }
    }

    /// Recovery moves files in and out of the merge: under the scrape lock and the directory's
    /// exclusive `flock`, like a switch.
    private func recover(_ compactor: inout Compactor, _ directoryHandle: String, _ ledger: inout CompactionLedger,
                         _ report: inout CompactionReport) throws(CompactionFailure) {
        guard !ledger.passes.isEmpty else {
            compactor.removeStrayTemporaries(ledger)
            return
        }
        try withSwitchLocks(directoryHandle) { cache throws(CompactionFailure) in
            report.recovered = try compactor.recover(&ledger, report: &report)
            cache.forgetDeadPids(report.pidsLostFiles)
        }
    }

    /// Runs `body` under the scrape lock and the directory's exclusive `flock` (taken on a
    /// descriptor of its own: a `flock` belongs to an open file description). The `flock` is
    /// only tried while the scrape lock is held, and waited for outside it: other processes'
    /// scrapes, which hold it shared, never hold up this collector's own.
    private func withSwitchLocks(_ path: String, _ body: (inout CacheState) throws(CompactionFailure) -> Void) throws(CompactionFailure) {
        let dir: MetricDirectory
        do throws(CollectorError) { dir = try MetricDirectory(path: path) } catch { throw .io(error.description) }
        let descriptor = dir.descriptor  // (a noncopyable value cannot be captured below)
        while true {
            let done = try state.withLock { cache throws(CompactionFailure) -> Bool in
                guard MetricDirectory.tryLockExclusive(descriptor) else { return false }
                defer { MetricDirectory.unlock(descriptor) }
                try body(&cache)
                return true
            }
            if done { break }
            usleep(2_000)
        }
        _ = dir.descriptor  // open until here
    }

    /// Runs `body` with the journal replayed, one pass at a time per directory: in this
    /// process (`compactionLock`) and across processes (``CompactorLock``; a pass still checks
    /// that the archives it replaces are the ones it read). With `rewritingJournal`,
    /// the journal is rewritten afterwards when it has grown much longer than what it says
    /// (``CompactionJournal/compact(factor:minimumLines:)``); recovery leaves it, so that a
    /// read-only directory never stops `serve`.
    private func runCompaction(rewritingJournal: Bool,
                               _ body: (inout Compactor, String, inout CompactionLedger, inout CompactionReport) throws(CompactionFailure) -> Void) -> CompactionReport {
        let started = monotonicNow()
        var report = CompactionReport()
        compactionLock.withLock { _ in
            let dir: MetricDirectory
            do throws(CollectorError) { dir = try MetricDirectory(path: directory) } catch {
                report.errors.append(error.description)
                return
            }
            let held: CompactorLock
            do throws(CompactionFailure) { held = try CompactorLock(directory: dir.descriptor) } catch {
                report.errors.append(error.description)
                return
            }
            var compactor = Compactor(directory: dir.descriptor)
            compactor.stopBefore = options.compactionStopBefore
            compactor.pauseBeforeEachStep = options.compactionStepPause
            do {
                var ledger = CompactionLedger(try compactor.journal.load().records)
                try body(&compactor, directory, &ledger, &report)
                if rewritingJournal { try compactor.journal.compact() }
            } catch let failure as CompactionFailure {
                report.errors.append(failure.description)
            } catch {
                report.errors.append("\(error)")
            }
            held.release()  // only now: the ledger was loaded, used and written under it
        }
        report.duration = monotonicNow() - started
        return report
    }

    /// Raises archive entries until no counter-like series served is below what was served
    /// before the switch (a few rounds at most: each doubles the raise).
    private func keepCountersMonotonic(cache: inout CacheState, before: Snapshot, pass: Compactor.PreparedPass, directory fd: Int32,
                                       report: inout CompactionReport) {
        for round in 0..<8 {
            let after = cache.refresh(path: directory, newlyDead: [], sharedLock: false)
            let drops = MonotonicGuard.drops(from: before, to: after)
            guard !drops.isEmpty else { return }
            let written = MonotonicGuard.raise(drops, directory: fd, valueOffsets: pass.valueOffsets, round: round)
            guard !written.isEmpty else { return }
            report.seriesRaised += drops.count
            for name in written { cache.forgetFile(name) }
        }
    }

    private func forgetInCache(_ pids: [String]) {
        guard !pids.isEmpty else { return }
        state.withLock { $0.forgetDeadPids(pids) }
    }

    func takeNewlyDead() -> [String] {
        newlyDead.withLock { pending in
            defer { pending = [] }
            return pending
        }
    }

    /// Records `pid` dead in the journal with its foldable files as they are, when the
    /// directory is compacted (see ``Options/recordsDeadPids``).
    func recordDead(pid: String, in directory: Int32) throws(CollectorError) {
        guard options.recordsDeadPids || CompactionJournal(directory: directory).exists else { return }
        // The names are known: probe them rather than list a directory that may be large.
        let files = ArchiveContent.foldableNames(pid: pid).compactMap { (try? FileSnapshot.take($0, in: directory)) ?? nil }
        // Nothing to fold: nothing to record (and no journal created in a directory being wiped).
        guard !files.isEmpty else { return }
        let records = [JournalRecord.dead(pid: pid, markedAt: Self.wallClock())] + files.map { .file(pid: pid, $0) }
        do { try CompactionJournal(directory: directory).append(records) } catch {
            throw .deadPidNotRecorded(pid: Int(pid) ?? 0, reason: error.description)
        }
    }

    /// Seconds since the Unix epoch (the journal's dates must mean the same after a restart).
    static func wallClock() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
