import Glibc
import MultiprocSupport

// MARK: - Compaction through the collector

extension DirectoryCollector {

    /// Folds the files of pids recorded dead at least `delay` seconds ago into archive files,
    /// so the directory holds the live workers' files plus a few archives however many workers
    /// came and went: one pass (`serve --compaction` runs it periodically, `multiproc-exporter
    /// compact` once). The protocol, its guarantees and the lock order are docs/design.md §9.
    ///
    /// Blocks while it reads and writes files; scrapes (of every exporter process) wait only
    /// for the switch, and other processes' passes for this one (``CompactorLock``). At most
    /// ``Options/maxPidsPerPass`` pids fold; memory holds one archive and one file at a time.
    public func compact(delay: Double) -> CompactionReport {
        let report = runCompaction(rewritingJournal: true) { compactor, ledger, report throws(CompactionFailure) in
            try settle(compactor, &ledger, &report)
            let due = try compactor.plan(&ledger, delay: delay, now: Self.wallClock(), maxPids: options.maxPidsPerPass, report: &report)
            guard let pass = due else {
                forgetInCache(report.pidsRevived)
                return
            }
            report.heldBytes = pass.heldBytes
            // A refresh before the switch locks, so that the one under them (the guard's
            // "before") reads only what changed since: a cold read (`compact`) never holds scrapes.
            state.withLock { _ = $0.refresh(path: directory, newlyDead: takeNewlyDead()) }
            try withSwitchLocks { cache throws(CompactionFailure) in
                let before = cache.refresh(path: directory, newlyDead: takeNewlyDead(), sharedLock: false)
                let outcome = compactor.switchArchives(pass, ledger: &ledger, report: &report)
                // A pass stopped after a commit still keeps counters from going down; a crash does not.
                if !outcome.committed.isEmpty, !(outcome.failure?.isSimulatedCrash ?? false) {
                    keepCountersMonotonic(cache: &cache, before: before, archives: outcome.committed, directory: compactor.directory,
                                          report: &report)
                }
                cache.forgetDeadPids(report.pidsRevived + report.pidsLostFiles)  // folded ones stay dead (`all` gauges frozen)
                if let failure = outcome.failure { throw failure }
            }
        }
        releaseFreedHeap()  // what the pass read and built
        return report
    }

    /// Settles a compaction pass that a crash interrupted (docs/design.md §9, step 0), so that
    /// what is served next counts every sample once. `serve` calls it before it listens;
    /// ``compact(delay:)`` does it first too.
    public func recoverCompaction() -> CompactionReport {
        runCompaction(rewritingJournal: false) { compactor, ledger, report throws(CompactionFailure) in
            try settle(compactor, &ledger, &report)
        }
    }

    /// Step 0 of a pass, under the switch locks when there is anything to settle.
    private func settle(_ compactor: Compactor, _ ledger: inout CompactionLedger, _ report: inout CompactionReport) throws(CompactionFailure) {
        guard !ledger.unsettled.isEmpty else {
            compactor.deleteStrayTemporaries(ledger)
            return
        }
        try withSwitchLocks { _ throws(CompactionFailure) in
            report.recovered = try compactor.settle(&ledger, report: &report)
        }
    }

    /// Runs `body` under the switch locks (docs/design.md §9, locks 2 and 3): the `flock`, on a
    /// descriptor of its own, is only tried under the state lock and waited for outside it.
    private func withSwitchLocks(_ body: (inout CacheState) throws(CompactionFailure) -> Void) throws(CompactionFailure) {
        let dir: MetricDirectory
        do throws(CollectorError) { dir = try MetricDirectory(path: directory) } catch { throw .io(error.description) }
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

    /// Runs `body` with the journal replayed under lock 1 (this process's `compactionLock`,
    /// then ``CompactorLock``). With `rewritingJournal`, the journal is rewritten afterwards
    /// when long; settling alone leaves it (a read-only directory must not stop `serve`).
    private func runCompaction(rewritingJournal: Bool,
                               _ body: (Compactor, inout CompactionLedger, inout CompactionReport) throws(CompactionFailure) -> Void) -> CompactionReport {
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
                let journal = try compactor.journal.load()
                report.journalExists = compactor.journal.exists
                var ledger = CompactionLedger(journal.records)
                report.deadPidsRecorded = ledger.dead.count
                try body(compactor, &ledger, &report)
                if rewritingJournal { try compactor.journal.rewriteIfLong() }
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

    /// Step 6: raises archive entries until no counter-like series is below what was served
    /// before the switch (a few rounds at most: each doubles the raise).
    private func keepCountersMonotonic(cache: inout CacheState, before: Snapshot, archives: [Compactor.NewArchive], directory fd: Int32,
                                       report: inout CompactionReport) {
        let offsets = Dictionary(archives.map { ($0.name, $0.valueOffsets) }, uniquingKeysWith: { $1 })
        for round in 0..<8 {
            let after = cache.refresh(path: directory, newlyDead: [], sharedLock: false)
            let drops = MonotonicGuard.drops(from: before, to: after)
            guard !drops.isEmpty else { return }
            let written = MonotonicGuard.raise(drops, directory: fd, valueOffsets: offsets, round: round)
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

    /// Records `pid` dead in the journal with its foldable files' fingerprints, when the
    /// directory is compacted (``Options/recordsDeadPids``, or a journal exists).
    func recordDead(pid: String, in directory: Int32) throws(CollectorError) {
        guard options.recordsDeadPids || CompactionJournal(directory: directory).exists else { return }
        // The names are known: probe them rather than list a directory that may be large.
        let files = ArchiveContent.foldableNames(pid: pid).compactMap { (try? FileFingerprint.take($0, in: directory)) ?? nil }
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
