import MultiprocCollector
import MultiprocSupport

/// The outcome of one `POST /mark-dead/<pid>`: the `result` label of
/// `multiproc_exporter_mark_dead_requests_total`.
public enum MarkDeadResult: String, Sendable, CaseIterable {
    /// At least one live gauge file was removed.
    case removed
    /// The pid had no live gauge files (already removed, or never had any).
    case noneFound = "none_found"
    /// The pid in the path was not a plain decimal in 1…4194304.
    case invalidPid = "invalid_pid"
    /// A token is configured and the request did not carry it.
    case unauthorized
    /// No token is configured and the client is not on loopback.
    case forbidden
    /// The collector could not remove a file or open the directory.
    case error
}

/// The exporter's own counters and the `multiproc_exporter_*` families built from them.
///
/// Every `reason` and `result` series exists from the start (at 0), so that `rate()` and
/// alerts see the first increment.
final class ExporterMetrics: Sendable {
    private struct Counts {
        var fileErrors: [FileProblem.Reason: Int] = Dictionary(uniqueKeysWithValues: FileProblem.Reason.allCases.map { ($0, 0) })
        var markDead: [MarkDeadResult: Int] = Dictionary(uniqueKeysWithValues: MarkDeadResult.allCases.map { ($0, 0) })
        var webConfigReloads: [Bool: Int] = [true: 0, false: 0]
        var webConfigLastReloadSuccessful = true
    }

    private let counts = Locked(Counts())
    /// Auto mark-dead's counters; their families are served only while it runs.
    let autoMarkDead = AutoMarkDeadMetrics()
    /// How reading the app's processes goes; served only while the workers collector is on.
    let workers = WorkerReadMetrics()
    /// The `build_info` labels, in name order: the commit and the version.
    private let buildLabels: [Label]
    /// Nil unless `--compaction` is on.
    let compaction: CompactionMetrics?
    /// Whether `--web.config.file` is set: only then are its reload metrics exported.
    let webConfigEnabled: Bool
    /// The textfile directory's counters; its families are served when a snapshot has textfiles.
    let textfiles = TextfileMetrics()

    init(version: String, revision: String, compaction: Bool = false, webConfigEnabled: Bool = false) {
        buildLabels = [Label(name: "revision", value: revision), Label(name: "version", value: version)]
        self.compaction = compaction ? CompactionMetrics() : nil
        self.webConfigEnabled = webConfigEnabled
    }

    func count(problems: [FileProblem]) {
        counts.withLock { for problem in problems { $0.fileErrors[problem.reason, default: 0] += 1 } }
    }

    func count(markDead result: MarkDeadResult) {
        counts.withLock { $0.markDead[result, default: 0] += 1 }
    }

    /// One reload of the web config, successful or not.
    func count(webConfigReload successful: Bool) {
        counts.withLock {
            $0.webConfigReloads[successful, default: 0] += 1
            $0.webConfigLastReloadSuccessful = successful
        }
    }

    /// The exporter's families for a body built from a snapshot with `statistics` and, with
    /// `--textfile.directory`, `textfiles`.
    func families(statistics: ScrapeStatistics, textfiles report: TextfileReport? = nil) -> [MetricFamily] {
        let counts = counts.withLock { $0 }
        let prefix = "multiproc_exporter_"
        func gauge(_ name: String, _ help: String, _ samples: [Sample]) -> MetricFamily {
            MetricFamily(name: prefix + name, type: .gauge, help: help, samples: samples)
        }
        func one(_ name: String, _ value: Double) -> [Sample] { [Sample(name: prefix + name, labels: [], value: value)] }

        var families = (compaction?.families(prefix: prefix) ?? []) + autoMarkDead.families() + workers.families() + [
            gauge("build_info", "A metric with a constant '1' value labeled by the version and revision of multiproc-exporter.",
                  [Sample(name: prefix + "build_info", labels: buildLabels, value: 1)]),
            gauge("bytes", "Bytes in use across the metric files merged by the last refresh.",
                  one("bytes", Double(statistics.bytesUsed))),
            MetricFamily(
                name: prefix + "file_errors", type: .counter,
                help: "Problems found in metric files or the metric directory, by reason; each problem is counted once when first seen.",
                samples: FileProblem.Reason.allCases.sorted().map {
                    Sample(name: prefix + "file_errors_total", labels: [Label(name: "reason", value: $0.rawValue)],
                           value: Double(counts.fileErrors[$0] ?? 0))
                }),
            gauge("files", "Metric files merged by the last refresh, by metric type.",
                  MetricType.fileTypes.map {
                      Sample(name: prefix + "files", labels: [Label(name: "type", value: $0.rawValue)],
                             value: Double(statistics.filesByType[$0] ?? 0))
                  }),
            gauge("files_by_layout", "Metric files merged by the last refresh, by the layout their writer used: "
                  + FileLayout.allCases.map { "\($0.rawValue) = prometheus_client \($0.writers)" }.joined(separator: ", ") + ".",
                  FileLayout.allCases.map {
                      Sample(name: prefix + "files_by_layout", labels: [Label(name: "layout", value: $0.rawValue)],
                             value: Double(statistics.filesByLayout[$0] ?? 0))
                  }),
            MetricFamily(
                name: prefix + "mark_dead_requests", type: .counter,
                help: "Requests to POST /mark-dead/<pid>, by result.",
                samples: MarkDeadResult.allCases.map {
                    Sample(name: prefix + "mark_dead_requests_total", labels: [Label(name: "result", value: $0.rawValue)],
                           value: Double(counts.markDead[$0] ?? 0))
                }),
            gauge("pids", "Distinct process ids among the metric files merged by the last refresh.",
                  one("pids", Double(statistics.pids))),
            gauge("scrape_duration_seconds", "Duration of the last refresh of the metric directory (list, read, merge).",
                  one("scrape_duration_seconds", statistics.duration)),
        ]
        if let report { families += textfiles.families(prefix: prefix, report: report) }
        if webConfigEnabled {
            families.append(gauge("web_config_last_reload_successful",
                                  "Whether the last reload of --web.config.file succeeded (1) or kept the previous config (0).",
                                  one("web_config_last_reload_successful", counts.webConfigLastReloadSuccessful ? 1 : 0)))
            families.append(MetricFamily(
                name: prefix + "web_config_reloads", type: .counter,
                help: "Reloads of --web.config.file after it or a file it names changed, by result.",
                samples: [(true, "success"), (false, "failure")].map { successful, result in
                    Sample(name: prefix + "web_config_reloads_total", labels: [Label(name: "result", value: result)],
                           value: Double(counts.webConfigReloads[successful] ?? 0))
                }))
        }
        return families.sorted { $0.name < $1.name }
    }
}
