import Testing
@testable import MultiprocCollector

@Suite struct MetricFileNameTests {
    @Test(arguments: [
        ("counter_123.db", "counter", nil, "123"),
        ("histogram_1.db", "histogram", nil, "1"),
        ("summary_4194304.db", "summary", nil, "4194304"),
        ("gauge_all_77.db", "gauge", "all", "77"),
        ("gauge_livemostrecent_9.db", "gauge", "livemostrecent", "9"),
        ("gauge_livesum_007.db", "gauge", "livesum", "007"),
    ] as [(String, String, String?, String)])
    func accepted(_ name: String, _ type: String, _ mode: String?, _ pid: String) throws {
        let parsed = try #require(MetricFileName(name))
        #expect(parsed.type.rawValue == type)
        #expect(parsed.gaugeMode?.rawValue == mode)
        #expect(parsed.pid == pid)
        #expect(parsed.description == name)
    }

    @Test(arguments: [
        "foo.db", "counter_.db", "counter_abc.db", "gauge_weird_1.db", "gauge_1.db", "gauge_all_.db",
        "counter_1_2.db", "counter_1.db.tmp", ".counter_1.db", "counter_1.DB", "Counter_1.db", "counter_-1.db",
        "counter_+1.db", "counter_1 .db", "counter_١.db", "gauge_all_1_2.db", "info_1.db", "counter_123456789012345678901.db",
        "data.db", "x.db", ".db", "counter.db",
    ])
    func rejected(_ name: String) {
        #expect(MetricFileName(name) == nil)
    }

    @Test func liveGaugeNamesCoverEveryLiveMode() {
        #expect(MetricFileName.liveGaugeFileNames(pid: 42) == [
            "gauge_liveall_42.db", "gauge_livemin_42.db", "gauge_livemax_42.db", "gauge_livesum_42.db", "gauge_livemostrecent_42.db",
        ])
    }
}
