import Dispatch
import Logging
import MultiprocCollector
import MultiprocSupport

/// The workers collector on the scrape path: one look per refresh, counted, visibility changes
/// logged once, turned into the lines every body of that refresh carries.
///
/// The look runs on a thread of its own while the refresh reads the directory (``start()``,
/// then ``PendingLook/lines()``), never on the event loop: a warm scrape of a large
/// directory leaves a core idle for most of its time (only loading values uses both), and
/// the `/proc` reads of the look fit there instead of adding to the scrape's latency (on
/// cores busy with other work it takes its CPU from the merge: BENCHMARKS.md). One thread is
/// enough: refreshes are single-flight, so looks never overlap.
///
/// A refresh waits for its look at most ``lookWait``: a look that reads the memory map of a
/// new pid's process waits for that process's memory lock, which a process stuck in the kernel
/// can hold for long. The refresh then serves the last finished look's lines, and while that
/// look is still under way no other starts (the next refreshes do the same, at once); a
/// warning says so once.
final class WorkerScrape: Sendable {
    let collector: WorkerCollector
    private let metrics: WorkerReadMetrics
    private let logger: Logger
    /// What the last look said about visibility (nil before one could tell).
    private let visible = Locked<Bool?>(nil)
    private let thread = WorkerPool(threads: 1, name: "workers-look")
    /// The lines of the last finished look, and whether a look is under way.
    private let looks = Locked<(last: [WorkerFamilies.Line], running: Bool, lateReported: Bool)>(([], false, false))

    /// How long a refresh waits for its look, seconds.
    static let lookWait = 1.0

    init(collector: WorkerCollector, metrics: WorkerReadMetrics, logger: Logger) {
        self.collector = collector
        self.metrics = metrics
        self.logger = logger
        metrics.enable()
    }

    /// A look under way.
    final class PendingLook: Sendable {
        private let done = DispatchSemaphore(value: 0)
        private let result = Locked<[WorkerFamilies.Line]>([])
        private let scrape: WorkerScrape

        fileprivate init(scrape: WorkerScrape) { self.scrape = scrape }

        fileprivate func finish(_ lines: [WorkerFamilies.Line]) {
            result.withLock { $0 = lines }
            done.signal()
        }

        /// Waits for the look (at most ``WorkerScrape/lookWait``); its lines, or the last
        /// finished look's when it is late.
        func lines() -> [WorkerFamilies.Line] {
            guard done.wait(timeout: .now() + WorkerScrape.lookWait) == .success else { return scrape.late() }
            return result.withLock { $0 }
        }
    }

    /// Starts a look on the look thread, unless the previous one is still under way.
    func start() -> PendingLook {
        let pending = PendingLook(scrape: self)
        let busy = looks.withLock { looks -> Bool in
            if looks.running { return true }
            looks.running = true
            return false
        }
        guard !busy else {
            pending.finish(late())
            return pending
        }
        thread.submit {
            let lines = self.lines()
            self.looks.withLock { $0 = (lines, false, false) }
            pending.finish(lines)
        }
        return pending
    }

    /// The last finished look's lines, for a refresh whose look is late; said once per late look.
    private func late() -> [WorkerFamilies.Line] {
        let (last, report) = looks.withLock { looks -> ([WorkerFamilies.Line], Bool) in
            defer { looks.lateReported = true }
            return (looks.last, !looks.lateReported)
        }
        if report {
            logger.warning("workers: a look at the app's processes takes longer than \(WorkerScrape.lookWait)s (a process stuck in the kernel?): serving the last finished look's values until it ends")
        }
        return last
    }

    /// Lets the look thread finish and end (the server stops).
    func stop() { thread.stop() }

    /// One look on the calling thread; the lines to serve with this refresh.
    func lines() -> [WorkerFamilies.Line] {
        let report = collector.collect()
        metrics.count(report)
        reportVisibility(report)
        return WorkerFamilies.lines(report)
    }

    /// Logs once when the app's processes stop or start being visible.
    private func reportVisibility(_ report: WorkerReport) {
        guard let now = report.visible else { return }
        let previous = visible.withLock { last in
            defer { last = now }
            return last
        }
        guard now != previous else { return }
        if !now {
            // Info, not a warning: the collector is on by default, and a sidecar in a pod of its
            // own pid namespace is a normal deployment that simply goes without these metrics.
            logger.info("workers: none of the pids with metric files is seen running as their writer from here, so no multiproc_worker* or multiproc_parent* metrics are served until one is. For them, run the exporter where it sees the app's processes: on the same host, in the same pod with shareProcessNamespace: true, under systemd with ProtectProc=default and without ProcSubset=pid; --no-collector.workers turns them off",
                        metadata: ["dir": "\(collector.directory)"])
        } else if previous == false {
            logger.info("workers: the app's processes are visible; serving their metrics", metadata: ["dir": "\(collector.directory)"])
        }
    }
}
