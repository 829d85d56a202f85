import Foundation
import Synchronization
import Testing
import TestSupport
@testable import MultiprocCollector

/// The cache must always give what a cold read gives: these tests change a directory the
/// ways writers, operators and accidents do, and compare after each change.
@Suite struct CacheTests {
    let dir = TemporaryDirectory()

    private func cold() throws -> String {
        try DirectoryCollector(directory: dir.path).collect().text
    }

    private func expectMatchesCold(_ collector: DirectoryCollector, _ comment: Comment? = nil,
                                   sourceLocation: SourceLocation = #_sourceLocation) throws -> Snapshot {
        let warm = collector.collect()
        #expect(warm.text == (try cold()), comment, sourceLocation: sourceLocation)
        return warm
    }

    private let requests = DBWriter.key(metric: "req", sample: "req_total", labels: ["route": "/"])

    @Test func valuesUpdatedInPlaceAreSeenWithoutReparsing() throws {
        let writer = DBWriter(path: dir.file("counter_1.db"))
        writer.set(requests, 1)
        let collector = try DirectoryCollector(directory: dir.path)
        #expect(collector.collect().text.contains("req_total{route=\"/\"} 1.0"))
        writer.set(requests, 41)
        let warm = try expectMatchesCold(collector)
        #expect(warm.text.contains("req_total{route=\"/\"} 41.0"))
        #expect(warm.statistics.filesParsed == 0)
        #expect(!warm.statistics.planChanged)
    }

    @Test func appendedEntriesAreParsedIncrementally() throws {
        let writer = DBWriter(path: dir.file("counter_1.db"))
        writer.set(requests, 1)
        let collector = try DirectoryCollector(directory: dir.path)
        _ = collector.collect()
        writer.set(DBWriter.key(metric: "req", sample: "req_total", labels: ["route": "/b"]), 2)
        let warm = try expectMatchesCold(collector)
        #expect(warm.statistics.filesParsed == 1)
        #expect(warm.statistics.planChanged && !warm.statistics.planRebuilt)
        #expect(warm.text.contains("req_total{route=\"/b\"} 2.0"))
    }

    /// Regression: a file that grew while many new files arrived was parsed on a refresh lane
    /// with a key table of the lane's own, but guessed its next key from its last key's id in
    /// the collector's table: an index out of range (a trap) once that id exceeded the lane's.
    @Test func fileGrowingWhileNewFilesArriveIsParsedOnALane() throws {
        let writer = DBWriter(path: dir.file("counter_1.db"))
        for i in 0..<50 { writer.set(DBWriter.key(metric: "req", sample: "req_total", labels: ["i": "\(i)"]), 1) }
        let collector = try DirectoryCollector(directory: dir.path, parallelLoadThreshold: 0)
        _ = collector.collect()
        writer.set(DBWriter.key(metric: "req", sample: "req_total", labels: ["i": "new"]), 2)
        for pid in 2...3 { DBWriter(path: dir.file("counter_\(pid).db")).set(requests, 1) }
        let warm = try expectMatchesCold(collector)
        #expect(warm.statistics.filesParsed == 3)
    }

    @Test func fileGrowingPast64KiBIsRemapped() throws {
        let writer = DBWriter(path: dir.file("counter_1.db"))
        writer.set(requests, 1)
        let collector = try DirectoryCollector(directory: dir.path)
        _ = collector.collect()
        for i in 0..<1500 {
            writer.set(DBWriter.key(metric: "req", sample: "req_total", labels: ["route": "/r\(i)"], help: "Requests."), Double(i))
        }
        #expect(writer.capacity > 1 << 16)
        let warm = try expectMatchesCold(collector)
        #expect(warm.statistics.entries == 1501)
    }

    @Test func replacedFileIsReadFromScratch() throws {
        let writer = DBWriter(path: dir.file("counter_1.db"))
        writer.set(requests, 5)
        let collector = try DirectoryCollector(directory: dir.path)
        _ = collector.collect()
        // Same name, new inode: a wipe and a restart.
        try FileManager.default.removeItem(atPath: dir.file("counter_1.db"))
        let again = DBWriter(path: dir.file("counter_1.db"))
        again.set(DBWriter.key(metric: "other", sample: "other_total"), 3)
        let warm = try expectMatchesCold(collector)
        #expect(!warm.text.contains("req_total"))
        #expect(warm.text.contains("other_total 3.0"))
    }

    @Test func fileRewrittenInPlaceWithSmallerUsedIsReparsed() throws {
        let writer = DBWriter(path: dir.file("counter_1.db"))
        writer.set(requests, 5)
        writer.set(DBWriter.key(metric: "req", sample: "req_total", labels: ["route": "/b"]), 6)
        let collector = try DirectoryCollector(directory: dir.path)
        _ = collector.collect()
        // Same inode, truncated to zero and rewritten (a writer that opened it with O_TRUNC).
        let again = DBWriter(path: dir.file("counter_1.db"))
        again.set(DBWriter.key(metric: "other", sample: "other_total"), 3)
        _ = try expectMatchesCold(collector)
    }

    /// Runs with values loaded inline and on two threads (the SIGBUS guard is per thread),
    /// and with the truncation noticed before the read (inotify) or only by the read (SIGBUS).
    @Test(arguments: [(0, FileChangeWatch.Detection.none), (Int.max, .none), (Int.max, .inotify)])
    func fileTruncatedUnderTheMappingDoesNotCrash(parallelLoadThreshold: Int, detection: FileChangeWatch.Detection) throws {
        let writer = DBWriter(path: dir.file("counter_1.db"))
        for i in 0..<1500 { writer.set(DBWriter.key(metric: "req", sample: "req_total", labels: ["i": "\(i)"]), 1) }
        DBWriter(path: dir.file("counter_2.db")).set(requests, 7)
        let collector = try DirectoryCollector(directory: dir.path, parallelLoadThreshold: parallelLoadThreshold,
                                               changeDetection: detection)
        _ = collector.collect()
        // Shrink below the mapped pages: touching them raises SIGBUS, which must be absorbed.
        #expect(truncate(dir.file("counter_1.db"), 4096) == 0)
        let snapshot = collector.collect()
        #expect(snapshot.text.contains("req_total{route=\"/\"} 7.0"))
        let reasons = Set(snapshot.problems.filter { $0.file == "counter_1.db" }.map(\.reason))
        // Without a warning, only the read can tell: it faults. Warned, the file is read anew.
        #expect(reasons == (detection == .none ? [.truncatedWhileReading] : [.usedBeyondFile]))
        // Next scrape: read from scratch, consistent with a cold read.
        _ = try expectMatchesCold(collector)
    }

    @Test func vanishedFilesDropOutAndLiveOnesAreNotErrors() throws {
        DBWriter(path: dir.file("counter_1.db")).set(requests, 1)
        DBWriter(path: dir.file("gauge_livesum_1.db")).set(DBWriter.key(metric: "g", sample: "g"), 2)
        let collector = try DirectoryCollector(directory: dir.path)
        _ = collector.collect()
        try FileManager.default.removeItem(atPath: dir.file("gauge_livesum_1.db"))
        let warm = try expectMatchesCold(collector)
        #expect(warm.problems.isEmpty)
        #expect(!warm.text.contains("# TYPE g gauge"))
    }

    @Test func directoryRemovedAndRecreated() throws {
        DBWriter(path: dir.file("counter_1.db")).set(requests, 1)
        let collector = try DirectoryCollector(directory: dir.path)
        var log = ProblemLog()
        _ = log.newProblems(in: collector.collect())
        try FileManager.default.removeItem(atPath: dir.path)
        let missing = collector.collect()
        #expect(missing.problems.map(\.reason) == [.directoryUnreadable])
        #expect(log.newProblems(in: missing).count == 1)
        #expect(missing.text.isEmpty)
        #expect(log.newProblems(in: collector.collect()).isEmpty, "reported once")
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        DBWriter(path: dir.file("counter_1.db")).set(requests, 9)
        let back = try expectMatchesCold(collector)
        #expect(back.problems.isEmpty)
        #expect(back.text.contains("req_total{route=\"/\"} 9.0"))
    }

    @Test func problemsAreNewOnlyOncePerConsumer() throws {
        FileManager.default.createFile(atPath: dir.file("counter_5.db"), contents: Data())
        let collector = try DirectoryCollector(directory: dir.path)
        var server = ProblemLog(), checker = ProblemLog()
        #expect(server.newProblems(in: collector.collect()).map(\.reason) == [.emptyFile])
        #expect(server.newProblems(in: collector.collect()).isEmpty)
        // Another consumer of the same collector sees it too (each keeps its own log).
        #expect(checker.newProblems(in: collector.collect()).map(\.reason) == [.emptyFile])
        #expect(collector.collect().problems.map(\.reason) == [.emptyFile])
        // Gone, then back: reported again.
        try FileManager.default.removeItem(atPath: dir.file("counter_5.db"))
        #expect(server.newProblems(in: collector.collect()).isEmpty)
        FileManager.default.createFile(atPath: dir.file("counter_5.db"), contents: Data())
        #expect(server.newProblems(in: collector.collect()).map(\.reason) == [.emptyFile])
    }

    @Test func markDeadRemovesOnlyLiveGaugeFilesOfThatPid() throws {
        for name in ["counter_7.db", "gauge_all_7.db", "gauge_liveall_7.db", "gauge_livesum_7.db", "gauge_livemax_7.db",
                     "gauge_livemin_7.db", "gauge_livemostrecent_7.db", "gauge_livesum_70.db", "gauge_livesum_8.db"] {
            DBWriter(path: dir.file(name)).set(DBWriter.key(metric: "g", sample: "g"), 1)
        }
        let collector = try DirectoryCollector(directory: dir.path)
        let removed = try collector.markDead(pid: 7)
        #expect(Set(removed) == ["gauge_liveall_7.db", "gauge_livesum_7.db", "gauge_livemax_7.db", "gauge_livemin_7.db", "gauge_livemostrecent_7.db"])
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(left == ["counter_7.db", "gauge_all_7.db", "gauge_livesum_70.db", "gauge_livesum_8.db"])
        #expect(try collector.markDead(pid: 7).isEmpty, "idempotent")
        #expect(throws: CollectorError.invalidPid(0)) { try collector.markDead(pid: 0) }
    }

    @Test func markDeadNeverFollowsASymlinkOrRemovesADirectory() throws {
        let outside = TemporaryDirectory()
        DBWriter(path: outside.file("precious.db")).set(requests, 1)
        symlink(outside.file("precious.db"), dir.file("gauge_livesum_9.db"))
        try FileManager.default.createDirectory(atPath: dir.file("gauge_liveall_9.db"), withIntermediateDirectories: false)
        let collector = try DirectoryCollector(directory: dir.path)
        #expect(throws: CollectorError.self) { try collector.markDead(pid: 9) }
        #expect(FileManager.default.fileExists(atPath: outside.file("precious.db")))
    }

    @Test func symlinksAndDirectoriesWithMetricNamesAreSkipped() throws {
        let outside = TemporaryDirectory()
        DBWriter(path: outside.file("counter_3.db")).set(requests, 100)
        symlink(outside.file("counter_3.db"), dir.file("counter_3.db"))
        try FileManager.default.createDirectory(atPath: dir.file("counter_4.db"), withIntermediateDirectories: false)
        DBWriter(path: dir.file("counter_1.db")).set(requests, 1)
        let snapshot = try DirectoryCollector(directory: dir.path).collect()
        #expect(snapshot.text.contains("req_total{route=\"/\"} 1.0"))
        #expect(Set(snapshot.problems.map(\.reason)) == [.symlink, .notRegularFile])
    }

    /// Regression: a negative `used` reset the entries *after* the header problem was noted,
    /// which erased it: the file was skipped without being reported or counted.
    @Test(arguments: [Int32(-8), Int32.min, 0, 7])
    func usedBelowTheHeaderIsReported(used: Int32) throws {
        let writer = DBWriter(path: dir.file("counter_1.db"))
        writer.set(requests, 1)
        writer.forceUsed(used)
        let collector = try DirectoryCollector(directory: dir.path)
        let snapshot = collector.collect()
        var log = ProblemLog()
        #expect(snapshot.problems.map(\.reason) == [.usedBelowHeader])
        #expect(log.newProblems(in: snapshot).map(\.reason) == [.usedBelowHeader])
        #expect(snapshot.text.isEmpty)
        #expect(collector.collect().problems.map(\.reason) == [.usedBelowHeader], "still reported while it lasts")
    }

    /// Regression: a file that grew past its mapping (`used` beyond it) and was cut shorter
    /// than what had been parsed before the remap kept its old value offsets, and values were
    /// then loaded past the end of the new, shorter mapping (a trap in debug builds, a read of
    /// unmapped memory in release builds).
    @Test func fileCutBelowWhatWasParsedWhileGrowingIsReadAgain() throws {
        let writer = DBWriter(path: dir.file("counter_1.db"))
        for i in 0..<1000 { writer.set(DBWriter.key(metric: "req", sample: "req_total", labels: ["i": "\(i)"]), 1) }
        #expect(writer.capacity == 1 << 16 && writer.used > 32768)
        let collector = try DirectoryCollector(directory: dir.path)
        _ = collector.collect()  // mapped at 64 KiB, entries parsed far past 4 KiB
        for i in 1000..<1500 { writer.set(DBWriter.key(metric: "req", sample: "req_total", labels: ["i": "\(i)"]), 1) }
        #expect(writer.capacity > 1 << 16)  // `used` now lies past the old mapping: the next scrape remaps
        #expect(truncate(dir.file("counter_1.db"), 4096) == 0)  // ...and finds the file cut short
        let snapshot = collector.collect()
        #expect(snapshot.problems.map(\.reason) == [.usedBeyondFile])
        _ = try expectMatchesCold(collector)
    }

    /// Regression: the same with the file cut below its 8-byte header. Four bytes written
    /// after a truncation are read through the old mapping as a `used` past it, so the scrape
    /// remaps; the new mapping is shorter than a header, and the file kept the entries parsed
    /// from the old one: values were loaded far past the end of the new mapping (a trap in
    /// debug builds, a read of unmapped memory in release builds). No change detection: the
    /// read alone must see it, as when the cut lands while a scrape runs.
    @Test func fileCutBelowItsHeaderWhileGrowingIsReadAgain() throws {
        let path = dir.file("counter_1.db")
        let writer = DBWriter(path: path)
        for i in 0..<1000 { writer.set(DBWriter.key(metric: "req", sample: "req_total", labels: ["i": "\(i)"]), 1) }
        let collector = try DirectoryCollector(directory: dir.path, changeDetection: .none)
        #expect(collector.collect().statistics.entries == 1000)  // mapped at 64 KiB, entries far past 4 KiB
        let fd = open(path, O_WRONLY | O_TRUNC)
        var used = Int32(1 << 20).littleEndian
        #expect(pwrite(fd, &used, 4, 0) == 4)
        close(fd)
        let snapshot = collector.collect()
        #expect(snapshot.problems.map(\.reason) == [.shortHeader])
        #expect(snapshot.statistics.entries == 0)
        _ = try expectMatchesCold(collector)
    }

    /// Regression: a scrape that caught a file mid-rewrite (same inode, truncated and written
    /// again: zeros or half a key where an entry will be) kept what it parsed then for good:
    /// the half-written key stayed skipped, or parsing stayed stalled at the zeros, after the
    /// file was whole again, so the output differed from a cold read until `used` changed.
    @Test(arguments: ["key", "length"])
    func fileCaughtMidRewriteIsReadAgainOnceWhole(torn part: String) throws {
        let writer = DBWriter(path: dir.file("counter_1.db"))
        let keys = (0..<3).map { DBWriter.key(metric: "req", sample: "req_total", labels: ["i": "\($0)"]) }
        for key in keys { writer.set(key, 2) }
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.file("counter_1.db"))))
        let second = try #require(whole.firstRange(of: Array(keys[1].utf8))).lowerBound
        var torn = whole
        if part == "key" {
            for i in (second + 10)..<(second + keys[1].utf8.count) { torn[i] = 0 }  // half a key: not JSON
        } else {
            for i in (second - 4)..<whole.count { torn[i] = 0 }  // the entry not written yet: stalls
        }
        func write(_ bytes: [UInt8]) {
            let fd = open(dir.file("counter_1.db"), O_WRONLY)
            _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            close(fd)
        }
        let collector = try DirectoryCollector(directory: dir.path)
        write(torn)
        #expect(!collector.collect().problems.isEmpty)
        write(whole)
        let snapshot = try expectMatchesCold(collector)
        #expect(snapshot.problems.isEmpty)
        #expect(snapshot.statistics.entries == 3)
    }

    /// A thread truncates a 128 KiB file and writes it again, over and over, while this one
    /// scrapes in a loop (values loaded inline and on two threads): SIGBUS is absorbed, the
    /// other file stays exact, and once the writer stops the warm output equals a cold read.
    @Test(arguments: [(0, FileChangeWatch.Detection.none), (Int.max, .none), (0, .inotify)])
    func fileTruncatedAndRewrittenInALoopWhileScraping(parallelLoadThreshold: Int, detection: FileChangeWatch.Detection) throws {
        let writer = DBWriter(path: dir.file("counter_1.db"))
        for i in 0..<2500 { writer.set(DBWriter.key(metric: "hammer", sample: "hammer_total", labels: ["i": "\(i)"]), Double(i % 7 + 1)) }
        DBWriter(path: dir.file("counter_2.db")).set(requests, 7)
        let content = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.file("counter_1.db"))))
        #expect(content.count > 1 << 16)
        let collector = try DirectoryCollector(directory: dir.path, parallelLoadThreshold: parallelLoadThreshold,
                                               changeDetection: detection)
        let path = dir.file("counter_1.db")
        let stop = Atomic<Bool>(false)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let fd = open(path, O_RDWR)
            while !stop.load(ordering: .relaxed) {
                for size in [0, 4096, content.count / 2, 12] {
                    ftruncate(fd, off_t(size))
                    usleep(UInt32.random(in: 0...200))
                    _ = content.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
                    usleep(UInt32.random(in: 0...200))
                }
            }
            close(fd)
            done.signal()
        }.start()
        let deadline = Date().addingTimeInterval(2)
        var scrapes = 0, faults = 0
        while Date() < deadline {
            let snapshot = collector.collect()
            #expect(snapshot.text.contains("req_total{route=\"/\"} 7.0"))
            if snapshot.problems.contains(where: { $0.reason == .truncatedWhileReading }) { faults += 1 }
            scrapes += 1
        }
        stop.store(true, ordering: .relaxed)
        done.wait()
        let settled = collector.collect()
        let cold = try cold()
        let warmLines = Set(settled.text.split(separator: "\n")), coldLines = Set(cold.split(separator: "\n"))
        #expect(settled.text == cold, "warm only: \(Array(warmLines.subtracting(coldLines).prefix(3))), cold only: \(Array(coldLines.subtracting(warmLines).prefix(3))); problems \(Array(settled.problems.prefix(2))); entries \(settled.statistics.entries)")
        #expect(scrapes > 10)
        // The guard was exercised, not just the writer's good moments (only reads notice
        // truncations when nothing warns of them).
        if detection == .none { #expect(faults > 0, "\(scrapes) scrapes, no fault absorbed") }
    }
}
