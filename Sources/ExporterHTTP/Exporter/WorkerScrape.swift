import Logging
import MultiprocCollector
import MultiprocSupport

/// The workers collector on the scrape path: one look per refresh (on the worker running the
/// refresh, never on the event loop), counted, visibility changes logged once, turned into
/// the families every body of that refresh carries.
final class WorkerScrape: Sendable {
    let collector: WorkerCollector
    private let metrics: WorkerReadMetrics
    private let logger: Logger
    /// What the last look said about visibility (nil before one could tell).
    private let visible = Locked<Bool?>(nil)

    init(collector: WorkerCollector, metrics: WorkerReadMetrics, logger: Logger) {
        self.collector = collector
        self.metrics = metrics
        self.logger = logger
        metrics.enable()
    }

    /// One look; the families to serve with this refresh.
    func families() -> [MetricFamily] {
        let report = collector.collect()
        metrics.count(report)
        reportVisibility(report)
        return WorkerFamilies.families(report)
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
            logger.warning("workers: none of the pids with metric files is seen running as their writer from here, so no multiproc_worker* or multiproc_parent* metrics are served until one is. If the app runs, run the exporter where it sees its processes: on the same host, in the same pod with shareProcessNamespace: true, and under systemd with ProtectProc=default and without ProcSubset=pid",
                           metadata: ["dir": "\(collector.directory)"])
        } else if previous == false {
            logger.info("workers: the app's processes are visible; serving their metrics", metadata: ["dir": "\(collector.directory)"])
        }
    }
}
