import Foundation
import Testing
import TestSupport
@testable import MultiprocCollector

/// ``DeadWorkerFinder`` over real files and a fake `/proc` (where processes can be made to
/// hold any pid at any start time), then over the real `/proc` with real children.
@Suite("DeadWorkerFinder: confirmation, visibility, elsewhere, real /proc")
struct DeadWorkerFinderTests {
    let dir = TemporaryDirectory()
    let proc = FakeProc(selfPid: 1)

    /// The app's writer 10 (maps its files) and a dead worker 20; `extra` adds more.
    func finder() -> DeadWorkerFinder {
        DeadWorkerFinder(directory: dir.path, processes: proc.table)
    }

    func verdicts(_ check: DeadWorkerCheck) -> [Int: PidVerdict] {
        Dictionary(uniqueKeysWithValues: check.decisions.map { ($0.pid, $0.verdict) })
    }

    func liveWriter(_ pid: Int, start: Double? = nil) {
        let files = writeMetricFiles(dir, pid: pid)
        proc.add(pid: pid, start: start ?? bootNow() - 100, uid: getuid(), maps: files.map { ($0, true) })
    }

    @Test func deadAfterTwoChecksWhileTheWriterStaysAlive() throws {
        liveWriter(10)
        _ = writeMetricFiles(dir, pid: 20)
        let finder = finder()
        let first = try finder.check(markedDead: [])
        #expect(first.pidsVisible == true)
        #expect(verdicts(first) == [10: .alive, 20: .skipped(.unconfirmed)])
        #expect(first.dead.isEmpty)
        let second = try finder.check(markedDead: [])
        #expect(verdicts(second) == [10: .alive, 20: .dead(.exited)])
        // Once marked (its live gauge file removed), a pid is not looked at again...
        try FileManager.default.removeItem(atPath: dir.file("gauge_livesum_20.db"))
        #expect(verdicts(try finder.check(markedDead: [20])) == [10: .alive])
        // ...unless a live gauge file comes back (a reuser): then it is judged again.
        _ = writeMetricFiles(dir, pid: 20, names: ["gauge_livesum"])
        #expect(verdicts(try finder.check(markedDead: [20])) == [10: .alive, 20: .skipped(.unconfirmed)])
    }

    @Test func filesThatChangeBetweenChecksAreBeingWritten() throws {
        liveWriter(10)
        let files = writeMetricFiles(dir, pid: 20)
        let finder = finder()
        _ = try finder.check(markedDead: [])
        let handle = try #require(FileHandle(forWritingAtPath: files[0]))
        handle.write(Data([1, 2, 3]))
        try handle.close()
        #expect(verdicts(try finder.check(markedDead: []))[20] == .skipped(.beingWritten))
        #expect(verdicts(try finder.check(markedDead: []))[20] == .dead(.exited), "quiet again: confirmed")
    }

    @Test func nothingIsDeadWhileNoWriterIsVisible() throws {
        _ = writeMetricFiles(dir, pid: 20)
        _ = writeMetricFiles(dir, pid: 21)
        let finder = finder()
        for _ in 0..<3 {
            let check = try finder.check(markedDead: [])
            #expect(check.pidsVisible == false)
            #expect(check.directoryInUse, "live gauge files")
            #expect(verdicts(check) == [20: .skipped(.notVisible), 21: .skipped(.notVisible)])
        }
    }

    @Test func aPidHeldByThisExporterMeansAnotherNamespace() throws {
        liveWriter(10)
        _ = writeMetricFiles(dir, pid: 1)  // the app's pid 1, in its own namespace: here it is us
        _ = writeMetricFiles(dir, pid: 20)
        let finder = finder()
        for _ in 0..<2 {
            let check = try finder.check(markedDead: [])
            #expect(check.pidsVisible == false)
            #expect(verdicts(check) == [10: .alive, 1: .skipped(.otherNamespace), 20: .skipped(.notVisible)])
        }
    }

    @Test func reusedPidIsDeadUnlessTheReuserMapsTheFiles() throws {
        liveWriter(10)
        let reused = writeMetricFiles(dir, pid: 30)
        let takenOver = writeMetricFiles(dir, pid: 31)
        proc.add(pid: 30, start: bootNow() + 30, uid: getuid(), maps: [])  // a `sleep` that got the pid
        proc.add(pid: 31, start: bootNow() + 30, uid: getuid(), maps: takenOver.map { ($0, true) })  // a new worker using the files
        _ = reused
        let finder = finder()
        _ = try finder.check(markedDead: [])
        let check = try finder.check(markedDead: [])
        #expect(verdicts(check) == [10: .alive, 30: .dead(.pidReused), 31: .skipped(.reusedPidInUse)])
    }

    @Test func filesMappedByAnotherProcessOrAPidInANestedNamespaceAreNotDead() throws {
        liveWriter(10)
        let inherited = writeMetricFiles(dir, pid: 40)
        _ = writeMetricFiles(dir, pid: 41)
        proc.add(pid: 400, start: bootNow() - 5, uid: getuid(), maps: [(inherited[0], true)])  // a forked child still maps 40's file
        proc.add(pid: 410, start: bootNow() - 5, uid: getuid(), namespacePids: [410, 41])  // pid 41 inside a container
        let reader = writeMetricFiles(dir, pid: 42)
        proc.add(pid: 420, start: bootNow() - 5, uid: getuid(), maps: [(reader[0], false)])  // a reader: read-only, does not count
        let finder = finder()
        _ = try finder.check(markedDead: [])
        let check = try finder.check(markedDead: [])
        #expect(verdicts(check) == [10: .alive, 40: .skipped(.inUseElsewhere), 41: .skipped(.otherNamespace), 42: .dead(.exited)])
    }

    @Test func customProcessIdentifiersAreNeverPidsAndArchivesAreNotLookedAt() throws {
        liveWriter(10)
        FileManager.default.createFile(atPath: dir.file("counter_99999999.db"), contents: Data(count: 16))
        FileManager.default.createFile(atPath: dir.file("counter_0.db"), contents: Data(count: 16))  // compaction's archive
        let check = try finder().check(markedDead: [])
        #expect(check.notPids == ["99999999"])
        #expect(verdicts(check) == [10: .alive])
    }

    @Test func missingDirectoryIsAnError() {
        #expect(throws: CollectorError.directoryMissing(path: "/nonexistent/dir")) {
            try DeadWorkerFinder(directory: "/nonexistent/dir", processes: proc.table).check(markedDead: [])
        }
    }

    /// The real /proc: a real writer that maps its files, and files of a process that really
    /// exited. Only the latter is returned, after two checks.
    @Test func realProcessesAgainstTheRealProc() throws {
        let writer = try RealWriter.start(in: dir)
        defer { writer.stop() }
        let gone = try ChildProcess(URL(fileURLWithPath: "/bin/true"), [])
        gone.wait()
        let deadPid = Int(gone.pid)
        _ = writeMetricFiles(dir, pid: deadPid)
        let finder = DeadWorkerFinder(directory: dir.path)
        let first = try finder.check(markedDead: [])
        #expect(first.pidsVisible == true)
        #expect(verdicts(first) == [writer.pid: .alive, deadPid: .skipped(.unconfirmed)])
        let second = try finder.check(markedDead: [])
        #expect(verdicts(second) == [writer.pid: .alive, deadPid: .dead(.exited)])
        #expect(second.duration < 1)
    }
}
