import Foundation
import Testing
import TestSupport
@testable import MultiprocCollector

/// A stopped app: every writer gone, none visible. Pids this finder saw written by a process of
/// its namespace are dead (rule 7, ``WriterSightings``); pids never seen, files never seen with
/// their writer, a directory someone still writes, or a pid reused by a live worker, are not.
@Suite("DeadWorkerFinder: a stopped app's writers, remembered")
struct WriterSightingsTests {
    let dir = TemporaryDirectory()
    let proc = FakeProc(selfPid: 1)

    func finder() -> DeadWorkerFinder { DeadWorkerFinder(directory: dir.path, processes: proc.table) }

    func verdicts(_ check: DeadWorkerCheck) -> [Int: PidVerdict] {
        Dictionary(uniqueKeysWithValues: check.decisions.map { ($0.pid, $0.verdict) })
    }

    /// A writer holding `pid` and mapping its files, started well before them.
    @discardableResult
    func liveWriter(_ pid: Int, names: [String] = ["counter", "gauge_livesum"]) -> [String] {
        let files = writeMetricFiles(dir, pid: pid, names: names)
        proc.add(pid: pid, start: bootNow() - 100, uid: getuid(), maps: files.map { ($0, true) })
        return files
    }

    /// Two checks a stopped app needs: the first finds them dead, the second confirms.
    func twoChecks(_ finder: DeadWorkerFinder, markedDead: Set<Int> = []) throws -> (DeadWorkerCheck, DeadWorkerCheck) {
        (try finder.check(markedDead: markedDead), try finder.check(markedDead: markedDead))
    }

    @Test func writersSeenThenGoneAreDeadWhileNeverSeenPidsAreNot() throws {
        liveWriter(10)
        liveWriter(11)
        let finder = finder()
        let running = try finder.check(markedDead: [])
        #expect(running.pidsVisible == true)
        #expect(verdicts(running) == [10: .alive, 11: .alive])
        #expect(running.remembered == 2)

        // The app stops: every worker SIGKILLed, the master gone. A worker that lived and died
        // between two checks left files too: never seen, never guessed at.
        proc.remove(pid: 10)
        proc.remove(pid: 11)
        _ = writeMetricFiles(dir, pid: 20)
        let (first, second) = try twoChecks(finder)
        #expect(first.pidsVisible == false)
        #expect(verdicts(first) == [10: .skipped(.unconfirmed), 11: .skipped(.unconfirmed), 20: .skipped(.notVisible)])
        #expect(verdicts(second) == [10: .dead(.exited), 11: .dead(.exited), 20: .skipped(.notVisible)])

        // Marked (their live gauges removed): forgotten.
        for pid in [10, 11] { try FileManager.default.removeItem(atPath: dir.file("gauge_livesum_\(pid).db")) }
        let after = try finder.check(markedDead: [10, 11])
        #expect(verdicts(after) == [20: .skipped(.notVisible)])
        #expect(after.remembered == 0)
    }

    /// Reuse, the case that must never remove a live worker's files: a pid seen written, its
    /// writer gone, the pid taken by a new worker of the app that opened the same files (as
    /// prometheus_client does for a reused pid), nothing else of the app visible.
    @Test func aPidSeenWrittenThenReusedByANewWorkerIsNeverDead() throws {
        let files = liveWriter(10)
        let finder = finder()
        _ = try finder.check(markedDead: [])
        proc.add(pid: 10, start: bootNow() + 30, uid: getuid(), maps: files.map { ($0, true) })
        for _ in 0..<3 {
            #expect(verdicts(try finder.check(markedDead: [])) == [10: .skipped(.reusedPidInUse)])
        }
        // The same new worker, its maps unreadable (another user's view): start time alone
        // never decides against a process that may be the app's.
        proc.add(pid: 10, start: bootNow() + 30, uid: getuid(), mapsReadable: false)
        for _ in 0..<3 {
            let check = try finder.check(markedDead: [])
            #expect(verdicts(check) == [10: .skipped(.unverifiable)])
            #expect(check.dead.isEmpty)
        }
    }

    /// Reused by an unrelated process (a `sleep`) that maps none of the files: they are the dead
    /// writer's, and go, though no writer of the app is visible.
    @Test func aPidSeenWrittenThenReusedByAnUnrelatedProcessIsDead() throws {
        liveWriter(10)
        let finder = finder()
        _ = try finder.check(markedDead: [])
        proc.add(pid: 10, start: bootNow() + 30, uid: getuid(), maps: [])
        let (first, second) = try twoChecks(finder)
        #expect(first.pidsVisible == false)
        #expect(verdicts(first) == [10: .skipped(.unconfirmed)])
        #expect(verdicts(second) == [10: .dead(.pidReused)])
    }

    /// Only the very files seen: one created after the writer was last seen (by a writer of
    /// another namespace reusing the name, or replaced by a wipe) is not covered.
    @Test func aFileNotSeenWithItsWriterIsNotCovered() throws {
        liveWriter(10)
        let finder = finder()
        _ = try finder.check(markedDead: [])
        proc.remove(pid: 10)
        _ = writeMetricFiles(dir, pid: 10, names: ["gauge_liveall"])
        for _ in 0..<3 { #expect(verdicts(try finder.check(markedDead: [])) == [10: .skipped(.notVisible)]) }
        // Replaced under the same name (new inode): not the file seen either.
        try FileManager.default.removeItem(atPath: dir.file("gauge_liveall_10.db"))
        try FileManager.default.removeItem(atPath: dir.file("counter_10.db"))
        _ = writeMetricFiles(dir, pid: 10, names: ["counter"])
        for _ in 0..<3 { #expect(verdicts(try finder.check(markedDead: [])) == [10: .skipped(.notVisible)]) }
    }

    /// While no writer is visible, a file of any pid still judged that changes between the two
    /// checks says someone writes here unseen: nothing is confirmed until it is quiet.
    @Test func aDirectoryWrittenWhileNoWriterIsVisibleConfirmsNothing() throws {
        liveWriter(10)
        let other = liveWriter(11)
        let finder = finder()
        _ = try finder.check(markedDead: [])
        proc.remove(pid: 10)
        proc.remove(pid: 11)
        _ = try finder.check(markedDead: [])
        let handle = try #require(FileHandle(forWritingAtPath: other[0]))
        handle.write(Data([1, 2, 3]))
        try handle.close()
        #expect(verdicts(try finder.check(markedDead: [])) == [10: .skipped(.beingWritten), 11: .skipped(.beingWritten)])
        #expect(verdicts(try finder.check(markedDead: [])) == [10: .dead(.exited), 11: .dead(.exited)])
    }

    /// A holder that shows the names carry another namespace's pids keeps memory out too.
    @Test func aForeignPidKeepsTheMemoryOut() throws {
        liveWriter(10)
        let finder = finder()
        _ = try finder.check(markedDead: [])
        proc.remove(pid: 10)
        _ = writeMetricFiles(dir, pid: 1)  // pid 1 is this exporter here
        for _ in 0..<3 {
            #expect(verdicts(try finder.check(markedDead: [])) == [10: .skipped(.notVisible), 1: .skipped(.otherNamespace)])
        }
    }

    /// A new process (a restarted exporter, the next `mark-dead --auto`) of the same namespace
    /// and boot reads what the last one saw; one of another namespace or boot does not, nor a
    /// record that is not whole. Nothing left to remember: no record.
    @Test func sightingsOutliveTheFinderInTheSameNamespaceOnly() throws {
        proc.name(namespace: 4_026_531_836)
        liveWriter(10)
        _ = try finder().check(markedDead: [])
        let record = dir.file(WriterSightingsRecord.fileName)
        let saved = try String(contentsOfFile: record, encoding: .utf8)
        #expect(saved.contains(" counter_10.db\n") && saved.contains(" gauge_livesum_10.db\n"))
        proc.remove(pid: 10)

        proc.name(namespace: 4_026_532_000)  // an exporter in another container
        for _ in 0..<3 { #expect(verdicts(try finder().check(markedDead: [])) == [10: .skipped(.notVisible)]) }
        proc.name(namespace: 4_026_531_836, boot: "00000000-0000-0000-0000-000000000000")  // after a reboot
        for _ in 0..<3 { #expect(verdicts(try finder().check(markedDead: [])) == [10: .skipped(.notVisible)]) }
        proc.name(namespace: 4_026_531_836)
        try String(saved.dropLast(3)).write(toFile: record, atomically: true, encoding: .utf8)  // cut short
        for _ in 0..<3 { #expect(verdicts(try finder().check(markedDead: [])) == [10: .skipped(.notVisible)]) }

        try saved.write(toFile: record, atomically: true, encoding: .utf8)
        let restarted = finder()
        let (first, second) = try twoChecks(restarted)
        #expect(verdicts(first) == [10: .skipped(.unconfirmed)])
        #expect(verdicts(second) == [10: .dead(.exited)])
        try FileManager.default.removeItem(atPath: dir.file("gauge_livesum_10.db"))
        _ = try restarted.check(markedDead: [10])
        #expect(try String(contentsOfFile: record, encoding: .utf8).isEmpty, "nothing left to remember: emptied, not removed")
    }

    /// The app wipes the directory at start (`rmtree`, or `listdir` + `remove` + `rmdir`) while
    /// a check runs: sightings only shrink then, and the record is neither brought back (the
    /// `rmdir` would fail: not empty) nor removed under the wipe (its `remove` would find it
    /// gone). A writer seen afterwards creates it again.
    @Test func aWipeInProgressNeverBringsTheRecordBackNorRemovesIt() throws {
        proc.name(namespace: 4_026_531_836)
        liveWriter(10)
        liveWriter(11)
        let finder = finder()
        _ = try finder.check(markedDead: [])
        let record = dir.file(WriterSightingsRecord.fileName)
        #expect(FileManager.default.fileExists(atPath: record))
        // The wipe removed the record and some of the files; the check sees the rest.
        try FileManager.default.removeItem(atPath: record)
        for name in ["counter_10.db", "gauge_livesum_10.db"] { try FileManager.default.removeItem(atPath: dir.file(name)) }
        proc.remove(pid: 10)
        _ = try finder.check(markedDead: [])
        #expect(!FileManager.default.fileExists(atPath: record), "sightings that only shrank do not create it")
        for name in ["counter_11.db", "gauge_livesum_11.db"] { try FileManager.default.removeItem(atPath: dir.file(name)) }
        _ = try finder.check(markedDead: [])
        #expect(!FileManager.default.fileExists(atPath: record))
        // The app started again: a new writer is seen, and remembered for the next process.
        liveWriter(12)
        _ = try finder.check(markedDead: [])
        #expect(try String(contentsOfFile: record, encoding: .utf8).contains(" counter_12.db\n"))
    }

    /// A FIFO (or any special file) by the record's name does not hold up a check.
    @Test func aFIFONamedLikeTheRecordHoldsNothingUp() throws {
        proc.name(namespace: 4_026_531_836)
        #expect(mkfifo(dir.file(WriterSightingsRecord.fileName), 0o644) == 0)
        liveWriter(10)
        let check = try finder().check(markedDead: [])
        #expect(check.sightingsProblem?.contains("not a regular file") == true || check.sightingsProblem?.contains("No such device") == true,
                "\(check.sightingsProblem ?? "no problem")")
    }

    @Test func theRecordReadsBackWhatItWrote() throws {
        var sightings = WriterSightings()
        sightings.saw(12, writing: [.init(name: "counter_12.db", identity: DeviceInode(major: 0, minor: 27, inode: 991), created: 1_796_000_000_123_456_789),
                                    .init(name: "gauge_livesum_12.db", identity: DeviceInode(major: 259, minor: 1, inode: 5), created: -1)])
        sightings.saw(7, writing: [.init(name: "histogram_7.db", identity: DeviceInode(major: 8, minor: 16, inode: 1 << 40), created: 0)])
        let text = WriterSightingsRecord.render(sightings, namespace: "boot=b pidns=pid:[1]")
        #expect(WriterSightingsRecord.parse(text, namespace: "boot=b pidns=pid:[1]") == sightings)
        #expect(WriterSightingsRecord.parse(text, namespace: "boot=b pidns=pid:[2]") == nil)
        let edited = text.replacingOccurrences(of: " 991 ", with: " 992 ")
        #expect(WriterSightingsRecord.parse(edited, namespace: "boot=b pidns=pid:[1]") == nil, "checksum")
        let misnamed = WriterSightingsRecord.render(sightings, namespace: "n").replacingOccurrences(of: "histogram_7.db", with: "histogram_8.db")
        #expect(WriterSightingsRecord.parse(misnamed, namespace: "n") == nil)
    }

    /// The real /proc: a real writer seen, then SIGKILLed, nothing else of the app running.
    @Test func aRealWriterSeenThenKilledIsDead() throws {
        let writer = try RealWriter.start(in: dir)
        let finder = DeadWorkerFinder(directory: dir.path)
        let running = try finder.check(markedDead: [])
        #expect(verdicts(running) == [writer.pid: .alive])
        #expect(running.sightingsProblem == nil)
        writer.stop()
        let (first, second) = try twoChecks(finder)
        #expect(first.pidsVisible == false)
        #expect(verdicts(second) == [writer.pid: .dead(.exited)])
        #expect(FileManager.default.fileExists(atPath: dir.file(WriterSightingsRecord.fileName)), "kept for the next process")
    }
}
