import Foundation
import Testing
import TestSupport

/// The exporter's memory follows what the directory holds now, not everything it ever held:
/// through the built `serve` binary (a process of its own, so its anonymous memory can be
/// read from /proc), across app restarts that wipe the directory and bring fresh series.
@Suite("Memory follows the directory", .enabled(if: LifecycleTests.binary != nil))
struct MemoryTests {
    static let restarts = 30
    static let workers = 2
    static let seriesPerWorker = 2_500

    /// 30 restarts, each removing every `.db` and writing 5 000 label values under a metric
    /// name of its own, scraped twice. Before the key table was trimmed, RssAnon grew with
    /// every restart (7.6 MB after the first, 95 MB after the 30th).
    @Test func anonymousMemoryStaysFlatAcrossAppRestarts() throws {
        let directory = TemporaryDirectory(prefix: "memory")
        let (server, logged) = try LifecycleTests.launch(["--multiproc-dir", directory.path])
        let port = try #require(logged, "\(server.stderr)")
        var rssAnon: [Int] = []
        for restart in 1...Self.restarts {
            try Self.restartApp(restart, in: directory)
            for _ in 0..<2 {
                let text = try RawHTTPClient.request(port: port, "GET", "/metrics", timeout: 30).text
                #expect(text.contains("requests_r\(restart)_total{path=\"/r\(restart)/w1/p2499\"} 2499.0"))
                #expect(!text.contains("requests_r\(restart - 1)_total"))
            }
            rssAnon.append(server.statusKiB("RssAnon") ?? -1)
        }
        // The key table is trimmed once it doubled, so memory swings between restarts by up to
        // one generation of keys: compare the largest of the first few with the last two.
        let early = rssAnon[1...3].max()!, late = rssAnon.suffix(2).max()!
        print("RssAnon KiB after each restart: \(rssAnon)")
        guard AbuseTests.checksRSS else { return }  // sanitizers keep freed memory in quarantine
        #expect(late * 2 < early * 3, "RssAnon after restarts 2-4: \(early) KiB, after the last two: \(late) KiB (\(rssAnon))")
        #expect(late < 40_000, "RssAnon \(late) KiB")
    }

    /// What an app start does (gunicorn's `on_starting`): every `.db` removed, then workers
    /// write series nobody wrote before.
    static func restartApp(_ restart: Int, in directory: TemporaryDirectory) throws {
        let fm = FileManager.default
        for name in try fm.contentsOfDirectory(atPath: directory.path) where name.hasSuffix(".db") {
            try fm.removeItem(atPath: directory.file(name))
        }
        for worker in 0..<workers {
            let entries = (0..<seriesPerWorker).map {
                MetricFileWriter.Entry(metric: "requests_r\(restart)", sample: "requests_r\(restart)_total",
                                       labels: ["path": "/r\(restart)/w\(worker)/p\($0)"], help: "Requests.", value: Double($0))
            }
            try MetricFileWriter.write(entries, to: directory.url, name: "counter_\(1000 * restart + worker).db")
        }
    }
}
