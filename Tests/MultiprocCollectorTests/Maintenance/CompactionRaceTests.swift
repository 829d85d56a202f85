import Foundation
import Testing
import TestSupport
@testable import MultiprocCollector
import MultiprocSupport

/// Compaction against what the app does meanwhile: wipes of the directory in the middle of a
/// switch, a reused pid mapping a file after the plan, files deleted by someone, journal
/// lines that name strangers.
@Suite struct CompactionRaceTests {
    let dir = TemporaryDirectory()

    /// Options that record dead pids and run `hook` before every step; `hook` returning true
    /// stops the pass there, as a crash would.
    private func options(_ hook: @escaping @Sendable (CompactionStep) -> Bool = { _ in false }) -> DirectoryCollector.Options {
        var options = DirectoryCollector.Options()
        options.recordsDeadPids = true
        options.compactionStopBefore = hook
        return options
    }

    /// `rm -f $DIR/*.db`, as an app's start script does.
    private static func removeEveryDB(_ path: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where name.hasSuffix(".db") {
            unlink("\(path)/\(name)")
        }
    }

    /// A hook for an `rm -f $DIR/*.db` that lists the directory just before the switch's
    /// check and deletes what it listed after it, just before the first archive's rename
    /// (and, with `crash`, kills the pass there).
    private static func wipeListedBeforeTheCheck(_ path: String, crash: Bool) -> @Sendable (CompactionStep) -> Bool {
        let listed = Locked<[String]?>(nil)
        return { step in
            if step == .check {
                listed.withLock { $0 = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".db") } }
            } else if step == .replaceArchive, let names = listed.withLock({ $0 }) {
                for name in names { unlink("\(path)/\(name)") }
                return crash
            }
            return false
        }
    }

    private func names() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    /// The app wipes the directory (`rm -f *.db`) at any point of the switch before the first
    /// rename: nothing of what was there comes back, whether the pass goes on (it deletes what
    /// it prepared) or is killed there (the restart does), with or without an archive before.
    /// `variant`: bit 0, an archive exists before; bit 1, the pass is killed right after the wipe.
    @Test(arguments: [CompactionStep.check, .nameTemporary, .journalCommit, .replaceArchive], 0..<4)
    func aWipeDuringTheSwitchBringsNothingBack(step: CompactionStep, variant: Int) throws {
        let archiveBefore = variant & 1 != 0, crash = variant & 2 != 0
        for pid in 1001...1003 { CompactionTests.writeWorker(dir.path, pid: pid, scale: Double(pid - 1000)) }
        let path = dir.path
        let wiped = Locked(false)
        let collector = try DirectoryCollector(directory: path, options: options { reached in
            guard reached == step, !wiped.withLock({ $0 }) else { return false }
            Self.removeEveryDB(path)
            wiped.withLock { $0 = true }
            return crash
        })
        if archiveBefore {
            try collector.markDead(pid: 1001)
            wiped.withLock { $0 = true }  // not during this first pass
            #expect(collector.compact(delay: 0).pidsFolded == ["1001"])
            #expect(try names().contains("counter_0.db"))
            wiped.withLock { $0 = false }
        }
        try collector.markDead(pid: 1002)
        _ = collector.collect()

        let report = collector.compact(delay: 0)
        #expect(wiped.withLock { $0 }, "the wipe ran")
        #expect(report.pidsFolded.isEmpty, "\(report)")
        var settled = report
        if crash {
            #expect(report.errors.contains { $0.contains("stopped before") }, "\(report)")
            settled = try DirectoryCollector(directory: path, options: options()).recoverCompaction()
            #expect(settled.errors.isEmpty, "\(settled)")
        } else {
            #expect(report.errors.isEmpty, "\(report)")
        }
        // A pass killed before it journalled a commit left nothing to settle, and nothing to report.
        let journalled = step == .replaceArchive || !crash
        #expect(settled.passesWiped.count == (journalled ? 1 : 0), "\(settled)")
        let left = try names()
        #expect(left.filter { $0.hasSuffix(".db") || $0.hasSuffix(".tmp") } == [], "the wipe left nothing; the pass brought back \(left)")
        #expect(!collector.collect().text.contains("req_total"), "served after the wipe:\n\(collector.collect().text)")
        // The app starts again: its new workers are counted alone, and folded alone.
        CompactionTests.writeWorker(path, pid: 1002, scale: 10)
        let fresh = try DirectoryCollector(directory: path, options: options())
        try fresh.markDead(pid: 1002)
        let expected = try DirectoryCollector(directory: path).collect().text
        #expect(fresh.compact(delay: 0).pidsFolded == ["1002"])
        #expect(fresh.collect().text == expected)
    }

    /// A process (a reused pid) that maps a planned file only after the plan looked at the
    /// maps: seen by the check before the switch, nothing is switched and the file stays where
    /// its writer finds it; folded once nothing maps it.
    @Test func aFileMappedAfterThePlanIsNotFolded() throws {
        let python = try #require(try? ChildProcess.path(of: "python3"), "python3 maps the file as prometheus_client does")
        for pid in 1101...1102 { CompactionTests.writeWorker(dir.path, pid: pid, scale: 1) }
        let path = dir.path
        let writer = Locked<ChildProcess?>(nil)
        let collector = try DirectoryCollector(directory: path, options: options { step in
            guard step == .check, writer.withLock({ $0 == nil }) else { return false }
            // Opened after the plan looked at the maps, before the check, and mapped
            // read-write, as MmapedDict does.
            let script = "import mmap, sys, time\nf = open(sys.argv[1], 'r+b')\nm = mmap.mmap(f.fileno(), 0)\n"
                + "print('mapped', flush=True)\ntime.sleep(60)\n"
            let child = try? ChildProcess(URL(fileURLWithPath: python), ["-c", script, "\(path)/counter_1101.db"])
            writer.withLock { $0 = child }
            _ = child?.waitForStdout(containing: "mapped", timeout: 20)
            return false
        })
        for pid in 1101...1102 { try collector.markDead(pid: pid) }
        let before = collector.collect().text

        let report = collector.compact(delay: 0)
        let child = try #require(writer.withLock { $0 })
        #expect(child.stdout.contains("mapped"))
        #expect(report.pidsInUse == ["1101"] && report.pidsFolded.isEmpty, "\(report)")
        let left = try names()
        #expect(left.contains("counter_1101.db") && left.contains("counter_1102.db"), "\(left)")
        #expect(!left.contains { $0.hasSuffix(".tmp") })
        #expect(collector.collect().text == before)

        child.send(SIGKILL)
        _ = child.wait()
        let next = collector.compact(delay: 0)
        #expect(next.pidsFolded == ["1101", "1102"], "\(next)")
        #expect(collector.collect().text == before)
    }

    /// An `rm -f *.db` that listed the directory before the switch's check and deletes after
    /// it: the last look before the first rename sees the files gone and brings nothing back.
    @Test func aWipeListedBeforeTheCheckBringsNothingBack() throws {
        for pid in 1301...1304 { CompactionTests.writeWorker(dir.path, pid: pid, scale: Double(pid - 1300)) }
        let path = dir.path
        let collector = try DirectoryCollector(directory: path, options: options(Self.wipeListedBeforeTheCheck(path, crash: false)))
        for pid in 1301...1302 { try collector.markDead(pid: pid) }
        _ = collector.collect()
        let report = collector.compact(delay: 0)
        #expect(report.pidsFolded.isEmpty && report.passesWiped.count == 1, "\(report)")
        let left = try names()
        #expect(left.filter { $0.hasSuffix(".db") || $0.hasSuffix(".tmp") } == [], "brought back: \(left)")
        #expect(!collector.collect().text.contains("req_total"))
    }

    /// One dead pid's file deleted by someone (an operator, an app's hook) is no wipe, before
    /// the check or before the first rename: nothing is switched, that pid is no longer folded
    /// (its other files read as they are), and the other pids are folded by the next pass,
    /// every count kept.
    @Test(arguments: [CompactionStep.check, .replaceArchive])
    func oneDeletedFileCostsOnlyItsPid(step: CompactionStep) throws {
        for pid in 1401...1404 { CompactionTests.writeWorker(dir.path, pid: pid, scale: Double(pid - 1400)) }
        let path = dir.path
        let deleted = Locked(false)
        let collector = try DirectoryCollector(directory: path, options: options { reached in
            guard reached == step, !deleted.withLock({ $0 }) else { return false }
            unlink("\(path)/summary_1403.db")
            deleted.withLock { $0 = true }
            return false
        })
        for pid in 1401...1403 { try collector.markDead(pid: pid) }
        _ = collector.collect()
        let report = collector.compact(delay: 0)
        #expect(report.passesWiped.isEmpty && report.pidsFolded.isEmpty, "\(report)")
        #expect(report.errors.count == 1 && report.errors[0].contains("summary_1403.db"), "\(report.errors)")
        #expect(report.pidsLostFiles == ["1403"])
        #expect(!(try names()).contains { $0.hasSuffix(".tmp") })
        let expected = try DirectoryCollector(directory: path).collect().text
        #expect(expected.contains("req_total{route=\"/a\"} 30.0"), "every pid's counts are still there:\n\(expected)")
        #expect(collector.collect().text == expected)

        let next = collector.compact(delay: 0)
        #expect(next.pidsFolded == ["1401", "1402"] && next.errors.isEmpty, "\(next)")
        #expect(collector.collect().text == expected)
        #expect(try DirectoryCollector(directory: path).collect().text == expected)
        #expect(try names().contains("counter_1403.db"), "the pid that lost a file is read as it is, not folded")
    }

    /// The app wipes the directory and a new worker takes a dead pid's name again before the
    /// check: its new files are not the planned ones (other inodes), the pid is alive again,
    /// and its files stay where it writes them, counted.
    @Test func aNewWorkerWithAWipedPidKeepsItsFiles() throws {
        for pid in 1501...1502 { CompactionTests.writeWorker(dir.path, pid: pid, scale: 1) }
        let path = dir.path
        let collector = try DirectoryCollector(directory: path, options: options { step in
            guard step == .check else { return false }
            Self.removeEveryDB(path)
            for pid in 1501...1502 { CompactionTests.writeWorker(path, pid: pid, scale: 5) }
            return false
        })
        try collector.markDead(pid: 1501)
        _ = collector.collect()
        let report = collector.compact(delay: 0)
        #expect(report.pidsFolded.isEmpty && report.pidsRevived == ["1501"], "\(report)")
        let left = try names()
        #expect(left.contains("counter_1501.db") && !left.contains { $0.hasSuffix(".tmp") }, "\(left)")
        #expect(collector.collect().text == (try DirectoryCollector(directory: path).collect().text))
        #expect(collector.collect().text.contains("req_total{route=\"/a\"} 30.0"), "both new workers' counts")
    }

    /// A crash after an `rm -f *.db` that listed the directory before the check and deleted
    /// just before the first rename: the restart finds the commit unswitched, deletes its
    /// temporary, and brings nothing back.
    @Test func aRestartAfterAWipeListedBeforeTheCheckBringsNothingBack() throws {
        for pid in 1601...1604 { CompactionTests.writeWorker(dir.path, pid: pid, scale: 1) }
        let path = dir.path
        let collector = try DirectoryCollector(directory: path, options: options(Self.wipeListedBeforeTheCheck(path, crash: true)))
        for pid in 1601...1602 { try collector.markDead(pid: pid) }
        #expect(collector.compact(delay: 0).errors.contains { $0.contains("stopped before") })
        let recovery = try DirectoryCollector(directory: path, options: options()).recoverCompaction()
        #expect(recovery.errors.isEmpty && recovery.passesWiped.count == 1, "\(recovery)")
        let left = try names()
        #expect(left.filter { $0.hasSuffix(".db") || $0.hasSuffix(".tmp") } == [], "brought back: \(left)")
    }

    /// A file changed after its archive was committed (a reused pid's process that opened it
    /// in the microseconds between the check and the delete) is never deleted: a running
    /// process's file stays, and the error says so.
    @Test func aFileChangedAfterItsCommitIsKept() throws {
        for pid in 1801...1802 { CompactionTests.writeWorker(dir.path, pid: pid, scale: 1) }
        let path = dir.path
        let collector = try DirectoryCollector(directory: path, options: options { step in
            guard step == .deleteFiles else { return false }
            // A value written in place, as a writer's mapping does.
            let fd = open("\(path)/counter_1801.db", O_RDWR)
            var used: Int32 = 0
            _ = pread(fd, &used, 4, 0)
            var value = 42.0
            _ = pwrite(fd, &value, 8, off_t(Int(used) - 16))  // the last entry's value
            close(fd)
            return false
        })
        try collector.markDead(pid: 1801)
        let report = collector.compact(delay: 0)
        #expect(report.errors.contains { $0.contains("counter_1801.db was folded into its archive, but a process writes it") }, "\(report)")
        #expect(try names().contains("counter_1801.db"), "a file someone writes is never deleted")
    }

    /// A journal line whose checksum holds but that names what the compactor never writes is
    /// ignored alone: the records after it still count.
    @Test func anIntactLineNamingAStrangerHidesNothingAfterIt() throws {
        for pid in 1201...1202 { CompactionTests.writeWorker(dir.path, pid: pid, scale: 1) }
        let collector = try DirectoryCollector(directory: dir.path, options: options())
        try collector.markDead(pid: 1201)
        let stranger = "fold 5 counter_0.db ../../etc/passwd 1 2 3 4 0000000000000000"
        let journal = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file(CompactionJournal.fileName)))
        try journal.seekToEnd()
        try journal.write(contentsOf: Data((JournalRecord.checksum(stranger) + " " + stranger + "\n").utf8))
        try journal.close()
        try collector.markDead(pid: 1202)
        #expect(collector.compact(delay: 0).pidsFolded == ["1201", "1202"])
    }

    /// A Python process mapping `path` read-write as prometheus_client's MmapedDict does, until killed.
    private func mapping(_ path: String) throws -> ChildProcess {
        let python = try #require(try? ChildProcess.path(of: "python3"))
        let script = "import mmap, sys, time\nf = open(sys.argv[1], 'r+b')\nm = mmap.mmap(f.fileno(), 0)\n"
            + "print('mapped', flush=True)\ntime.sleep(60)\n"
        let child = try ChildProcess(URL(fileURLWithPath: python), ["-c", script, path])
        #expect(child.waitForStdout(containing: "mapped", timeout: 20))
        return child
    }

    /// A crash between an archive's rename and the deletes, then a reused pid's process maps a
    /// folded file before anything settles it: the settling never deletes a file a process
    /// maps for writing (it reports it instead).
    @Test func settlingKeepsAFileAProcessMapsSinceTheCrash() throws {
        for pid in 2201...2202 { CompactionTests.writeWorker(dir.path, pid: pid, scale: 1) }
        let collector = try DirectoryCollector(directory: dir.path, options: options { $0 == .deleteFiles })
        try collector.markDead(pid: 2201)
        #expect(collector.compact(delay: 0).errors.contains { $0.contains("stopped before deleteFiles") })
        let child = try mapping(dir.file("counter_2201.db"))
        defer { child.send(SIGKILL); _ = child.wait() }
        let settled = try DirectoryCollector(directory: dir.path, options: options()).recoverCompaction()
        #expect(settled.errors.contains { $0.contains("counter_2201.db was folded into its archive, but a process writes it") }, "\(settled)")
        #expect(try names().contains("counter_2201.db"), "a file a process maps is never deleted")
    }

    /// Archives are files of pid 0. A process whose `process_identifier` is 0 writes those
    /// names too: its file is served as it changes (never frozen), and compaction refuses to
    /// replace it.
    @Test func aProcessWritingAsPidZeroIsServedAndNeverReplaced() throws {
        CompactionTests.writeWorker(dir.path, pid: 2301, scale: 1)
        let key = DBWriter.key(metric: "req", sample: "req_total", labels: ["route": "/a"], help: "Requests.")
        let zero = DBWriter(path: dir.file("counter_0.db"))
        zero.set(key, 1)
        let collector = try DirectoryCollector(directory: dir.path, options: options())
        _ = collector.collect()
        zero.set(key, 40)
        #expect(collector.collect().text.contains("req_total{route=\"/a\"} 43.0"), "pid 0's update served")
        let child = try mapping(dir.file("counter_0.db"))
        defer { child.send(SIGKILL); _ = child.wait() }
        try collector.markDead(pid: 2301)
        let report = collector.compact(delay: 0)
        #expect(report.pidsFolded.isEmpty && report.errors.contains { $0.contains("pid compaction names its archives with") }, "\(report)")
        #expect(try names().contains("counter_2301.db"))
        zero.set(key, 50)
        #expect(collector.collect().text.contains("req_total{route=\"/a\"} 53.0"))
    }
}
