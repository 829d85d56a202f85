import Foundation
import Testing
import TestSupport
@testable import MultiprocCollector

/// Files of pids marked dead are read once more and then frozen (see ``DeadFold``): these
/// tests change such files behind the collector's back and require what a cold read says.
@Suite struct DeadPidCacheTests {
    let dir = TemporaryDirectory()
    private let jobs = DBWriter.key(metric: "jobs", sample: "jobs_total", labels: ["kind": "a"], help: "Jobs.")

    private func cold() throws -> String {
        try DirectoryCollector(directory: dir.path).collect().text
    }

    /// The bytes of a counter file holding `jobs_total{kind="a"} value`, as the writer lays it out.
    private func counterFile(_ value: Double) throws -> [UInt8] {
        let scratch = TemporaryDirectory()
        DBWriter(path: scratch.file("counter_1.db")).set(jobs, value)
        return try [UInt8](Data(contentsOf: URL(fileURLWithPath: scratch.file("counter_1.db"))))
    }

    /// Regression (issue #13, bug 1): a frozen file truncated to 0 bytes faulted inside the
    /// batch that checks frozen headers; the handler mapped a zero page over it, the per-file
    /// re-check then read zeros without faulting, and the poisoned mapping was kept. When a new
    /// writer with the same pid rewrote the same inode, the exporter served the old value for
    /// good (6 where Python says 16).
    ///
    /// Run with each way of noticing the truncation: inotify, size comparison, and neither
    /// (only `SIGBUS`, as when the file shrinks between those checks and the read).
    @Test(arguments: [FileChangeWatch.Detection.inotify, .sizeComparison, .none])
    func frozenFileTruncatedThenRewrittenInPlaceIsReadAgain(detection: FileChangeWatch.Detection) throws {
        let path = dir.file("counter_5.db")
        DBWriter(path: path).set(jobs, 6)
        let collector = try DirectoryCollector(directory: dir.path, changeDetection: detection)
        #expect(collector.collect().text.contains("jobs_total{kind=\"a\"} 6.0"))
        try collector.markDead(pid: 5)
        _ = collector.collect()  // reads the dead pid's files a last time
        #expect(collector.collect().statistics.filesFrozen == 1)

        #expect(truncate(path, 0) == 0)
        let truncated = collector.collect()
        #expect(truncated.text == (try cold()))
        #expect(truncated.statistics.sigbusFaults == (detection == .none ? 1 : 0), "the path under test was taken")

        // A new worker with the same pid writes the same inode again.
        let inode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64)
        let fd = open(path, O_WRONLY)
        let content = try counterFile(16)
        #expect(content.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } == content.count)
        close(fd)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64 == inode)

        let rewritten = collector.collect()
        #expect(rewritten.text.contains("jobs_total{kind=\"a\"} 16.0"), "\(rewritten.text)")
        #expect(rewritten.text == (try cold()))
        #expect(collector.collect().text == (try cold()), "and it stays right")
    }

    /// The same with the file cut below its first page while many frozen files are checked in
    /// one batch: only the mappings the faults hit are dropped, the others stay frozen.
    @Test func onlyTheFaultingMappingIsDroppedFromTheBatch() throws {
        for pid in 10..<20 { DBWriter(path: dir.file("counter_\(pid).db")).set(jobs, Double(pid)) }
        let collector = try DirectoryCollector(directory: dir.path, changeDetection: .none)
        _ = collector.collect()
        for pid in 10..<20 { try collector.markDead(pid: pid) }
        _ = collector.collect()
        #expect(collector.collect().statistics.filesFrozen == 10)

        #expect(truncate(dir.file("counter_13.db"), 0) == 0)
        let snapshot = collector.collect()
        #expect(snapshot.statistics.sigbusFaults == 1)
        #expect(snapshot.text == (try cold()))
        #expect(snapshot.statistics.filesFrozen == 9)
        #expect(snapshot.problems.map(\.reason) == [.emptyFile])
    }

    /// A file left empty (so unmapped) when its pid was marked dead, then written again in
    /// place by a new worker with that pid: a file rewritten by system calls thaws its pid
    /// (the worker is alive), mapped or not. Before, only mapped files counted: the new
    /// content was read once, frozen with the dead pid, and the worker's later updates in
    /// place were never seen (found by `CacheRandomizedTests` under `make test`).
    @Test(arguments: [FileChangeWatch.Detection.inotify, .sizeComparison])
    func emptyFileRewrittenAfterItsPidDiedThawsThePid(detection: FileChangeWatch.Detection) throws {
        let path = dir.file("counter_7.db")
        DBWriter(path: path).set(jobs, 1)
        let collector = try DirectoryCollector(directory: dir.path, changeDetection: detection)
        _ = collector.collect()
        #expect(truncate(path, 0) == 0)
        #expect(collector.collect().problems.map(\.reason) == [.emptyFile])
        try collector.markDead(pid: 7)
        _ = collector.collect()

        let writer = DBWriter(path: path)  // same inode: ftruncate, then stores through a mapping
        writer.set(jobs, 5)
        #expect(collector.collect().text.contains("jobs_total{kind=\"a\"} 5.0"))
        writer.set(jobs, 8)  // in place: no system call
        let updated = collector.collect()
        #expect(updated.text.contains("jobs_total{kind=\"a\"} 8.0"), "\(updated.text)")
        #expect(updated.text == (try cold()))
        #expect(updated.statistics.filesFrozen == 0)
    }
}
