import Foundation
import Testing
import TestSupport
@testable import MultiprocCollector

/// Counters of prometheus_client before 0.4 (keys `[name, name, [label names], [label
/// values]]`): served as that release served them, and merged with later releases' files by
/// the rules of README "Client versions". `make test-clients` checks 0.1.0 and 0.3.1 against
/// their own collectors; these pin the rules for mixed directories.
@Suite struct CountersBefore04Tests {
    let dir = TemporaryDirectory()

    private func old(_ pid: Int, _ name: String, _ value: Double, type: String = "counter") {
        DBWriter(path: dir.file("\(type)_\(pid).db"), layout: .k4lv8)
            .set(DBWriter.key(metric: name, sample: name, labels: ["k": "v"], shape: .labelLists), value)
    }

    private func today(_ pid: Int, _ family: String, _ value: Double) {
        DBWriter(path: dir.file("counter_\(pid).db"))
            .set(DBWriter.key(metric: family, sample: family + "_total", labels: ["k": "v"], help: "Orders."), value)
    }

    private func body(_ accept: String? = nil) throws -> String {
        let collector = try DirectoryCollector(directory: dir.path)
        let format = ExpositionFormat.negotiate(accept: accept)
        let warm = collector.collect()
        #expect(warm.body(format) == collector.collect().body(format), "a warm scrape serves the same")
        return String(decoding: warm.body(format), as: UTF8.self)
    }

    /// 0.3.1's own collector: `# TYPE orders counter` and `orders{...}` lines, no `_total`.
    @Test func aCounterWithoutTotalIsAnnouncedUnderItsOwnName() throws {
        old(1, "orders", 1)
        old(2, "orders", 2)
        #expect(try body() == "# HELP orders Multiprocess metric\n# TYPE orders counter\norders{k=\"v\"} 3.0\n")
        // OpenMetrics came later; it announces every counter under the family name anyway.
        #expect(try body("application/openmetrics-text; version=1.0.0")
            == "# HELP orders Multiprocess metric\n# TYPE orders counter\norders{k=\"v\"} 3.0\n# EOF\n")
    }

    /// `Counter('orders_total')` of 0.3.1 and of 0.26 serve one series: one family, summed.
    @Test func aCounterNamedWithTotalJoinsTheFamilyLaterReleasesWrite() throws {
        old(1, "orders_total", 1)
        today(2, "orders", 2)
        let text = try body()
        #expect(text.hasSuffix("# TYPE orders_total counter\norders_total{k=\"v\"} 3.0\n"), "\(text)")
        #expect(text.components(separatedBy: "# TYPE").count == 2, "one family: \(text)")
        #expect(try body("application/openmetrics-text; version=1.0.0").contains("# TYPE orders counter\norders_total{k=\"v\"} 3.0\n"))
    }

    /// Old `orders` and new `orders_total` series are different series of one family `orders`,
    /// announced as today's release announces it, as soon as one of its samples is today's.
    @Test func aFamilyWithSamplesOfBothReleasesIsAnnouncedAsToday() throws {
        old(1, "orders", 1)
        today(2, "orders", 2)
        let lines = Set(try body().split(separator: "\n"))
        #expect(lines.contains("# TYPE orders_total counter"))
        #expect(lines.contains("orders{k=\"v\"} 1.0"))
        #expect(lines.contains("orders_total{k=\"v\"} 2.0"))
        #expect(!lines.contains("# TYPE orders counter"))
    }

    /// Only counters drop `_total` from the family: a gauge named so keeps its name.
    @Test func aGaugeNamedWithTotalKeepsItsName() throws {
        old(1, "queue_total", 4, type: "gauge_all")
        #expect(try body() == "# HELP queue_total Multiprocess metric\n# TYPE queue_total gauge\nqueue_total{k=\"v\",pid=\"1\"} 4.0\n")
    }
}
