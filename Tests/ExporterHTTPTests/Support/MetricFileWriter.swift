import Foundation
import MultiprocCollector
import TestSupport

/// Writes `.db` files in prometheus_client's multiprocess format (docs/design.md §2) so tests can
/// build fixture directories without Python.
struct MetricFileWriter {
    struct Entry {
        var metric: String
        var sample: String
        var labels: [String: String] = [:]
        var help: String
        var value: Double
        var timestamp: Double = 0
    }

    /// The key as the writers of `layout` write it.
    static func key(_ e: Entry, layout: FileLayout = .k4v16) -> String {
        PythonKeys.encode(metric: e.metric, sample: e.sample, labels: e.labels.map { ($0.key, $0.value) }, help: e.help,
                          shape: layout.keyShape)
    }

    /// Writes `entries` to `directory/name` in `layout`: header, entries, zero tail up to 64 KiB.
    static func write(_ entries: [Entry], to directory: URL, name: String, layout: FileLayout = .k4v16) throws {
        let image = FileImage.build(entries.map { FileImage.Entry(key: key($0, layout: layout), value: $0.value, timestamp: $0.timestamp) },
                                    valueWidth: layout.valueWidth, size: 65536)
        try Data(image).write(to: directory.appendingPathComponent(name))
    }
}

/// A temporary multiprocess directory with a few workers' files.
struct FixtureDirectory {
    let directory: TemporaryDirectory
    var url: URL { directory.url }
    var path: String { directory.path }

    /// Pids 101 and 102: a labelled counter, a histogram, and live-sum gauges.
    static func make() throws -> FixtureDirectory {
        let directory = TemporaryDirectory(prefix: "exporter-http")
        let url = directory.url
        for (pid, n) in [(101, 3.0), (102, 4.0)] {
            try MetricFileWriter.write([
                .init(metric: "jobs", sample: "jobs_total", labels: ["kind": "a"], help: "Jobs done.", value: n),
                .init(metric: "jobs", sample: "jobs_total", labels: ["kind": "b \"quoted\""], help: "Jobs done.", value: 1),
            ], to: url, name: "counter_\(pid).db")
            try MetricFileWriter.write([
                .init(metric: "latency_seconds", sample: "latency_seconds_bucket", labels: ["le": "0.1"], help: "Latency.", value: 1),
                .init(metric: "latency_seconds", sample: "latency_seconds_bucket", labels: ["le": "+Inf"], help: "Latency.", value: n),
                .init(metric: "latency_seconds", sample: "latency_seconds_sum", help: "Latency.", value: n / 10),
            ], to: url, name: "histogram_\(pid).db")
            try MetricFileWriter.write([
                .init(metric: "inflight", sample: "inflight", help: "In flight.", value: 2),
            ], to: url, name: "gauge_livesum_\(pid).db")
        }
        return FixtureDirectory(directory: directory)
    }

    func remove() { directory.remove() }

    func files() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
}
