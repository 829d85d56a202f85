import Foundation
import Testing
import MultiprocCollector

// MARK: - markDead against Python's mark_process_dead

/// Uses `Fixtures/dead_and_live_pids`: real workers, some already marked dead by Python.
/// `after_mark_dead/` holds what Python served after `mark_process_dead(pid)` on a copy, and
/// `mark_dead.json` the pid and the files Python removed.
@Suite struct MarkDeadTests {

    struct Recorded: Decodable {
        var pid: Int
        var removed: [String]
    }

    static let caseName = "dead_and_live_pids"

    static func recorded() throws -> Recorded {
        try Fixtures.decode(Recorded.self, from: Fixtures.url(caseName, "after_mark_dead", "mark_dead.json"))
    }

    static func scratch() throws -> ScratchDirectory {
        try ScratchDirectory(copying: Fixtures.url(caseName, "db"))
    }

    @Test func removesOnlyLiveGaugeFilesOfThatPid() throws {
        let recorded = try Self.recorded()
        let scratch = try Self.scratch()
        defer { scratch.remove() }
        let before = try scratch.listing()
        let collector = try DirectoryCollector(directory: scratch.path)

        let removed = try collector.markDead(pid: recorded.pid).sorted()
        #expect(removed == recorded.removed.sorted(), "Python removed \(recorded.removed)")
        #expect(removed.allSatisfy { $0.hasPrefix("gauge_live") && $0.hasSuffix("_\(recorded.pid).db") })
        #expect(try scratch.listing() == before.filter { !removed.contains($0) })
        // The pid's other files stay until the directory is wiped.
        let others = before.filter { $0.hasSuffix("_\(recorded.pid).db") && !$0.hasPrefix("gauge_live") }
        #expect(!others.isEmpty)
        #expect(others.allSatisfy { (try? scratch.listing().contains($0)) == true })
    }

    @Test func isIdempotent() throws {
        let recorded = try Self.recorded()
        let scratch = try Self.scratch()
        defer { scratch.remove() }
        let collector = try DirectoryCollector(directory: scratch.path)
        #expect(!(try collector.markDead(pid: recorded.pid)).isEmpty)
        let after = try scratch.listing()
        #expect(try collector.markDead(pid: recorded.pid).isEmpty)
        #expect(try scratch.listing() == after)
    }

    @Test func unknownPidRemovesNothing() throws {
        let scratch = try Self.scratch()
        defer { scratch.remove() }
        let before = try scratch.listing()
        let collector = try DirectoryCollector(directory: scratch.path)
        #expect(try collector.markDead(pid: 4_194_303).isEmpty)
        #expect(try scratch.listing() == before)
        #expect(throws: CollectorError.invalidPid(0)) { try collector.markDead(pid: 0) }
    }

    /// After markDead the output equals Python's mark_process_dead + collect, both for a
    /// collector that scraped before (its cache must forget the files) and for a fresh one.
    @Test(arguments: [true, false])
    func outputMatchesPythonAfterMarkDead(scrapedBefore: Bool) throws {
        let recorded = try Self.recorded()
        let scratch = try Self.scratch()
        defer { scratch.remove() }
        let collector = try DirectoryCollector(directory: scratch.path)
        if scrapedBefore { _ = collector.collect() }
        try collector.markDead(pid: recorded.pid)

        let index = try Fixtures.decode([RecordedScrape].self, from: Fixtures.url(Self.caseName, "after_mark_dead", "index.json"))
        #expect(index.count >= 10)
        let snapshot = collector.collect()
        #expect(snapshot.problems.isEmpty, "\(snapshot.problems)")
        for scrape in index {
            try scrape.expectMatches(snapshot, expectedBody: Fixtures.url(Self.caseName, "after_mark_dead", scrape.slug + ".body"))
        }
    }
}
