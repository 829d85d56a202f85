import MultiprocCollector
import MultiprocSupport

/// How reading the app's processes goes: the `multiproc_exporter_workers_*` families, served
/// while the workers collector is on (`--no-collector.workers` turns it off). Every `reason`
/// series exists from the start, at 0.
final class WorkerReadMetrics: Sendable {
    private struct Counts {
        var enabled = false
        var skipped: [WorkerSkipReason: Int] = [:]
        /// 1 while the app's processes are visible (also before the first look that could tell).
        var visible = true
        var lastDuration = 0.0
    }

    private let counts = Locked(Counts())

    /// Turns the families on (the server does, when the collector is on).
    func enable() { counts.withLock { $0.enabled = true } }

    /// Counts one look.
    func count(_ report: WorkerReport) {
        counts.withLock { counts in
            for (reason, n) in report.skipped { counts.skipped[reason, default: 0] += n }
            if let visible = report.visible { counts.visible = visible }
            counts.lastDuration = report.duration
        }
    }

    /// The families, empty unless enabled.
    func families() -> [MetricFamily] {
        let counts = counts.withLock { $0 }
        guard counts.enabled else { return [] }
        let prefix = "multiproc_exporter_workers_"
        func gauge(_ name: String, _ help: String, _ value: Double) -> MetricFamily {
            MetricFamily(name: prefix + name, type: .gauge, help: help, samples: [Sample(name: prefix + name, labels: [], value: value)])
        }
        return [
            gauge("read_duration_seconds", "Duration of the last look at the app's processes in /proc.", counts.lastDuration),
            MetricFamily(
                name: prefix + "skipped", type: .counter,
                help: "What could not be read about the app's processes, by reason: exited while read, permission_denied (per value), hidden, unverifiable, other_namespace (per look at a pid), not_visible (per look).",
                samples: WorkerSkipReason.allCases.sorted().map {
                    Sample(name: prefix + "skipped_total", labels: [Label(name: "reason", value: $0.rawValue)], value: Double(counts.skipped[$0] ?? 0))
                }),
            gauge("visible", "1 when the app's processes are visible from this exporter's pid namespace; 0 when they are not, and no multiproc_worker* or multiproc_parent* metric is served.",
                  counts.visible ? 1 : 0),
        ]
    }
}
