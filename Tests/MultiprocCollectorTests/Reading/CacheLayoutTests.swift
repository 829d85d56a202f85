import Foundation
import Testing
import TestSupport
@testable import MultiprocCollector

/// Files of older prometheus_client releases through the cache: detected once per content,
/// read incrementally with their own value width, re-detected when the content changes,
/// folded when their pid is marked dead. Warm must always equal cold.
@Suite struct CacheLayoutTests {
    let dir = TemporaryDirectory()

    private func expectMatchesCold(_ collector: DirectoryCollector, _ comment: Comment? = nil,
                                   sourceLocation: SourceLocation = #_sourceLocation) throws -> Snapshot {
        let warm = collector.collect()
        let cold = try DirectoryCollector(directory: dir.path).collect().text
        #expect(warm.text == cold, comment, sourceLocation: sourceLocation)
        return warm
    }

    private func key(_ route: String, _ layout: FileLayout, help: String = "Requests.") -> String {
        DBWriter.key(metric: "req", sample: "req_total", labels: ["route": route], help: help, shape: layout.keyShape)
    }

    @Test(arguments: [FileLayout.k4v8, .k3v8, .k4lv8])
    func fileWithoutEntriesWaitsForItsFirstEntry(_ layout: FileLayout) throws {
        let writer = DBWriter(path: dir.file("counter_1.db"), layout: layout)
        let collector = try DirectoryCollector(directory: dir.path)
        var snapshot = try expectMatchesCold(collector)
        #expect(snapshot.problems.isEmpty)
        #expect(snapshot.statistics.filesByLayout.isEmpty)
        writer.set(key("/", layout), 1.5)
        snapshot = try expectMatchesCold(collector)
        #expect(snapshot.problems.isEmpty)
        #expect(snapshot.statistics.filesByLayout == [layout: 1])
        let help = layout == .k4v8 ? "Requests." : "Multiprocess metric"
        #expect(snapshot.text == "# HELP req_total \(help)\n# TYPE req_total counter\nreq_total{route=\"/\"} 1.5\n")
    }

    @Test(arguments: [FileLayout.k4v8, .k3v8, .k4lv8])
    func appendedEntriesAndInPlaceUpdatesUseTheFilesWidth(_ layout: FileLayout) throws {
        let writer = DBWriter(path: dir.file("gauge_all_1.db"), layout: layout)
        writer.set(key("/a", layout), 1)
        let collector = try DirectoryCollector(directory: dir.path)
        _ = try expectMatchesCold(collector)
        for i in 0..<2000 { writer.set(key("/r\(i)", layout), Double(i)) }  // grows past 64 KiB
        writer.set(key("/a", layout), 7)
        let snapshot = try expectMatchesCold(collector)
        #expect(snapshot.text.contains("req_total{pid=\"1\",route=\"/a\"} 7.0"))
        #expect(snapshot.text.contains("req_total{pid=\"1\",route=\"/r1999\"} 1999.0"))
        #expect(snapshot.problems.isEmpty)
    }

    @Test func replacedFileIsDetectedAgain() throws {
        DBWriter(path: dir.file("counter_1.db")).set(key("/", .k4v16), 1, timestamp: 5)
        let collector = try DirectoryCollector(directory: dir.path)
        #expect(collector.collect().statistics.filesByLayout == [.k4v16: 1])
        // A new file under the same name (an old client restarted with the same pid).
        try FileManager.default.removeItem(atPath: dir.file("counter_1.db"))
        let old = DBWriter(path: dir.file("counter_1.db"), layout: .k3v8)
        old.set(key("/", .k3v8), 2)
        old.set(key("/b", .k3v8), 3)
        let snapshot = try expectMatchesCold(collector)
        #expect(snapshot.statistics.filesByLayout == [.k3v8: 1])
        #expect(snapshot.text.contains("# HELP req_total Multiprocess metric"))
        #expect(snapshot.problems.isEmpty)
    }

    @Test func rewrittenInPlaceWithAnotherLayoutIsDetectedAgain() throws {
        let today = DBWriter(path: dir.file("counter_1.db"))
        for i in 0..<5 { today.set(key("/\(i)", .k4v16), Double(i)) }
        let collector = try DirectoryCollector(directory: dir.path)
        _ = try expectMatchesCold(collector)
        // Same inode, smaller `used`: new content.
        let old = DBWriter(path: dir.file("counter_1.db"), layout: .k4v8)
        old.set(key("/x", .k4v8), 9)
        let snapshot = try expectMatchesCold(collector)
        #expect(snapshot.statistics.filesByLayout == [.k4v8: 1])
        #expect(snapshot.text.hasSuffix("req_total{route=\"/x\"} 9.0\n"))
    }

    @Test func aKeyOfAnotherShapeInAFileIsSkippedAndNamed() throws {
        let writer = DBWriter(path: dir.file("counter_1.db"), layout: .k3v8)
        writer.set(key("/a", .k3v8), 1)
        writer.set(key("/b", .k4v8), 2)  // a 4-element key among 3-element ones
        let snapshot = try expectMatchesCold(try DirectoryCollector(directory: dir.path))
        #expect(snapshot.problems.map(\.reason) == [.unexpectedKeyShape])
        #expect(snapshot.problems.first?.detail.contains("layout k3v8") == true)
        #expect(snapshot.text.contains("route=\"/a\"") && !snapshot.text.contains("route=\"/b\""))
    }

    @Test func mixedDirectoryMergesAcrossLayouts() throws {
        for (pid, layout) in [(1, FileLayout.k3v8), (2, .k4v8), (3, .k4v16), (4, .k4lv8)] {
            DBWriter(path: dir.file("counter_\(pid).db"), layout: layout).set(key("/", layout), Double(pid))
            DBWriter(path: dir.file("gauge_max_\(pid).db"), layout: layout)
                .set(DBWriter.key(metric: "g", sample: "g", help: "G.", shape: layout.keyShape), Double(pid))
        }
        let snapshot = try expectMatchesCold(try DirectoryCollector(directory: dir.path))
        #expect(snapshot.text.contains("req_total{route=\"/\"} 10.0"))
        #expect(snapshot.text.contains("\ng 4.0\n"))
        #expect(snapshot.statistics.filesByLayout == [.k3v8: 2, .k4v8: 2, .k4v16: 2, .k4lv8: 2])
    }

    @Test func mostrecentTreatsEntriesWithoutTimestampAsZero() throws {
        // An 8-byte file cannot say when its value was set: timestamp 0, which never wins
        // (Python's `current_timestamp < timestamp` with both 0).
        DBWriter(path: dir.file("gauge_mostrecent_1.db"), layout: .k4v8).set(DBWriter.key(metric: "g", sample: "g"), 1)
        var snapshot = try expectMatchesCold(try DirectoryCollector(directory: dir.path))
        #expect(!snapshot.text.contains("\ng "))
        DBWriter(path: dir.file("gauge_mostrecent_2.db")).set(DBWriter.key(metric: "g", sample: "g"), 2, timestamp: 10)
        snapshot = try expectMatchesCold(try DirectoryCollector(directory: dir.path))
        #expect(snapshot.text.contains("\ng 2.0\n"))
    }

    @Test(arguments: [FileLayout.k4v8, .k3v8])
    func deadPidsOfOldLayoutsFoldLikeTodays(_ layout: FileLayout) throws {
        for pid in 1...6 {
            let writer = DBWriter(path: dir.file("counter_\(pid).db"), layout: layout)
            for i in 0..<20 { writer.set(key("/\(i)", layout), Double(pid * i)) }
            DBWriter(path: dir.file("gauge_livesum_\(pid).db"), layout: layout)
                .set(DBWriter.key(metric: "inflight", sample: "inflight", shape: layout.keyShape), 1)
        }
        let collector = try DirectoryCollector(directory: dir.path)
        _ = try expectMatchesCold(collector)
        for pid in 1...4 { try collector.markDead(pid: pid) }
        _ = collector.collect()
        let snapshot = try expectMatchesCold(collector, "after folding")
        #expect(snapshot.statistics.filesFrozen == 4)
        #expect(snapshot.text.contains("inflight 2.0"))
    }

    @Test func undetectableFileIsLeftOutAndNamed() throws {
        DBWriter(path: dir.file("counter_2.db")).set(key("/", .k4v16), 3)
        // Two entries that fit 16- and 8-byte values alike, keys of no known shape.
        let padded = 4
        let image = FileImage.build([FileImage.Entry(key: "abc", value: 1, timestamp: Double(bitPattern: UInt64(8 + padded))),
                                     FileImage.Entry(key: "abc", value: 2)], valueWidth: 16, size: 4096)
        FileManager.default.createFile(atPath: dir.file("counter_1.db"), contents: Data(image))
        let collector = try DirectoryCollector(directory: dir.path)
        for _ in 0..<2 {
            let snapshot = try expectMatchesCold(collector)
            #expect(snapshot.problems.map(\.reason) == [.undetectedLayout])
            #expect(snapshot.text.contains("req_total{route=\"/\"} 3.0"))
        }
        let report = collector.inspect()
        #expect(report.files.first { $0.name == "counter_1.db" }?.problems.map(\.reason) == [.undetectedLayout])
        #expect(report.files.first { $0.name == "counter_2.db" }?.layout == .k4v16)
    }
}
