import MultiprocCollector
import MultiprocSupport

/// The textfile directory's own metrics (present with `--textfile.directory`), named as
/// node_exporter names its textfile collector's: the modification time of every file that
/// parsed, whether anything was left out this scrape, and what was left out, by reason.
final class TextfileMetrics: Sendable {
    /// Every reason from the start (at 0), so that `rate()` and alerts see the first one.
    private let errors = Locked(Dictionary(uniqueKeysWithValues: TextfileProblem.Reason.allCases.map { ($0, 0) }))

    /// Counts problems first seen by a refresh.
    func count(_ problems: [TextfileProblem]) {
        errors.withLock { for problem in problems { $0[problem.reason, default: 0] += 1 } }
    }

    func families(prefix: String, report: TextfileReport) -> [MetricFamily] {
        let errors = errors.withLock { $0 }
        let name = prefix + "textfile_"
        var families = [
            MetricFamily(
                name: name + "errors", type: .counter,
                help: "Textfiles or textfile families left out, by reason; each problem is counted once when first seen.",
                samples: TextfileProblem.Reason.allCases.sorted().map {
                    Sample(name: name + "errors_total", labels: [Label(name: "reason", value: $0.rawValue)], value: Double(errors[$0] ?? 0))
                }),
            MetricFamily(
                name: name + "scrape_error", type: .gauge,
                help: "1 if a textfile, or a family of one, could not be used by the last refresh, 0 otherwise.",
                samples: [Sample(name: name + "scrape_error", labels: [], value: report.hasErrors ? 1 : 0)]),
        ]
        if !report.files.isEmpty {
            families.append(MetricFamily(
                name: name + "mtime_seconds", type: .gauge, help: "Unixtime mtime of textfiles successfully read.",
                samples: report.files.map {
                    Sample(name: name + "mtime_seconds", labels: [Label(name: "file", value: $0.path)], value: $0.mtime)
                }))
        }
        return families
    }
}
