import Logging
import MultiprocCollector

/// Marking one pid dead, the same way whoever asks: `POST /mark-dead/<pid>` and auto
/// mark-dead both come here. Runs on a worker (the collector unlinks files).
///
/// One place so that both get the same effects: the collector removes the live gauge files
/// (and its cache folds the rest), the coordinator forgets the cached snapshot (its bodies
/// still hold the removed gauges), and the outcome is counted and logged.
struct MarkDeadAction: Sendable {
    let source: any MetricsSource
    let metrics: ExporterMetrics
    let coordinator: ScrapeCoordinator
    let logger: Logger

    /// Who asked.
    enum Origin: Sendable {
        /// An HTTP client: counted in `multiproc_exporter_mark_dead_requests_total`.
        case request(peer: String)
        /// Auto mark-dead found the pid's writer gone: counted in
        /// `multiproc_exporter_auto_mark_dead_pids_marked_total`.
        case automatic(PidVerdict.DeathReason)
    }

    /// Marks `pid` dead; returns the files removed.
    func markDead(pid: Int, origin: Origin) throws(CollectorError) -> [String] {
        let removed: [String]
        do {
            removed = try source.markDead(pid: pid)
        } catch {
            switch origin {
            case .request: metrics.count(markDead: .error)
            case .automatic: metrics.autoMarkDead.count(skipped: .markFailed)
            }
            logger.error("mark-dead failed", metadata: ["pid": "\(pid)", "error": "\(error)"])
            throw error
        }
        // Live gauges of that pid must not be served from a cached snapshot any more.
        coordinator.invalidate()
        var metadata: Logger.Metadata = ["pid": "\(pid)", "removed": "\(removed.count)"]
        switch origin {
        case .request(let peer):
            metrics.count(markDead: removed.isEmpty ? .noneFound : .removed)
            metadata["peer"] = "\(peer)"
        case .automatic(let reason):
            metrics.autoMarkDead.count(marked: reason)
            metadata["by"] = "auto-mark-dead"
            metadata["reason"] = "\(reason.rawValue)"
        }
        logger.info("marked pid dead", metadata: metadata)
        return removed
    }
}
