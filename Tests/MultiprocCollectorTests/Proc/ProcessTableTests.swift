import Foundation
import MultiprocSupport
import Testing
import TestSupport
@testable import MultiprocCollector

@Suite("ProcessTable, ProcessRecord, WritableMappings: /proc parsing, fake and real")
struct ProcessTableTests {
    @Test func statWithSpacesAndParenthesesInCommAndStatusFields() throws {
        let proc = FakeProc()
        proc.add(pid: 42, start: 123.45, uid: 1000, state: "Z", parent: 7, threads: 1, threadGroup: 40, namespacePids: [42, 5])
        guard case .present(let record) = proc.table.lookup(42) else { Issue.record("not present"); return }
        #expect(record.state == "Z" && record.isZombie)
        #expect(record.parent == 7 && record.threads == 1 && record.threadGroup == 40)
        #expect(record.effectiveUid == 1000)
        #expect(record.namespacePids == [42, 5] && record.innermostPid == 5)
        #expect(!record.isKernelThread)
        #expect(abs(proc.table.startSeconds(record) - 123.45) < 0.02)
    }

    @Test func kernelThreadsAndMissingPidsAndNonPids() {
        let proc = FakeProc()
        proc.add(pid: 2, start: 0, kernelThread: true)
        guard case .present(let record) = proc.table.lookup(2) else { Issue.record("not present"); return }
        #expect(record.isKernelThread)
        #expect(proc.table.lookup(99) == .absent)
        #expect(proc.table.lookup(0) == .absent)
        #expect(proc.table.lookup(ProcessTable.maxPid + 1) == .absent)
        #expect(ProcessRecord(pid: 1, stat: "garbage", status: nil) == nil)
        #expect(ProcessRecord(pid: 1, stat: "1 (x) S 0 1", status: nil) == nil)
    }

    @Test func selfAndAncestorsFollowParents() {
        let proc = FakeProc(selfPid: 30)
        proc.add(pid: 30, start: 1, parent: 20)
        proc.add(pid: 20, start: 1, parent: 1)
        proc.add(pid: 1, start: 0, parent: 0)
        #expect(proc.table.selfAndAncestors() == [30, 20, 1])
    }

    @Test func mapsCountOnlyWritableSharedMappings() {
        let maps = WritableMappings(parsing: """
            7f0000000000-7f0000010000 rw-s 00000000 00:1b 3635    /dev/shm/m/counter_5.db
            7f0000010000-7f0000020000 r--s 00000000 00:1b 3636    /dev/shm/m/gauge_livesum_5.db
            7f0000020000-7f0000030000 rw-p 00000000 00:1b 3637    /dev/shm/m/histogram_5.db
            7f0000030000-7f0000040000 rw-s 00000000 103:a2 77     /old/summary_5.db (deleted)
            7f0000040000-7f0000050000 rw-s 00000000 00:00 0       /dev/zero
            garbage line
            """)
        #expect(maps.identities == [DeviceInode(major: 0x00, minor: 0x1b, inode: 3635), DeviceInode(major: 0x103, minor: 0xa2, inode: 77)])
        #expect(maps.maps(DeviceInode(major: 0, minor: 0x1b, inode: 3635), name: "counter_5.db"))
        #expect(!maps.maps(DeviceInode(major: 0, minor: 0x1b, inode: 3636), name: "gauge_livesum_5.db"), "read-only: a reader")
        #expect(!maps.maps(DeviceInode(major: 0, minor: 0x1b, inode: 3637), name: "histogram_5.db"), "private")
        // overlayfs: another device, same inode and name
        #expect(maps.maps(DeviceInode(major: 0, minor: 0x40, inode: 3635), name: "counter_5.db"))
        #expect(!maps.maps(DeviceInode(major: 0, minor: 0x40, inode: 3635), name: "counter_6.db"))
        #expect(maps.maps(DeviceInode(major: 9, minor: 9, inode: 77), name: "summary_5.db"), "(deleted) suffix dropped")
    }

    @Test func deviceNumbersMatchStat() throws {
        let dir = TemporaryDirectory()
        let path = writeMetricFiles(dir, pid: 1, names: ["counter"])[0]
        var st = stat()
        lstat(path, &st)
        let fd = open(dir.path, O_RDONLY)
        defer { close(fd) }
        let status = try #require(FileStatus.of("counter_1.db", in: fd))
        #expect(status.identity == DeviceInode(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)))
        #expect(status.isRegular && status.owner == st.st_uid)
        #expect(abs(status.statusChange - Double(st.st_ctim.tv_sec)) < 1.1)
        if let birth = status.birth { #expect(abs(birth - Date().timeIntervalSince1970) < 60) }
    }

    /// The real /proc: a real child process, its start time, its mappings, and its absence
    /// once reaped.
    @Test func realChildProcess() throws {
        let dir = TemporaryDirectory()
        let child = try RealWriter.start(in: dir)
        defer { child.stop() }
        let table = ProcessTable()
        guard case .present(let record) = table.lookup(child.pid) else { Issue.record("child not present"); return }
        #expect(record.threadGroup == child.pid && !record.isZombie)
        #expect(record.effectiveUid == getuid())
        let started = table.startSeconds(record)
        #expect(started <= bootNow() && started > bootNow() - 30, "started within the test")
        let maps = try #require(table.maps(of: child.pid))
        let fd = open(dir.path, O_RDONLY)
        defer { close(fd) }
        let status = try #require(FileStatus.of("counter_\(child.pid).db", in: fd))
        #expect(maps.maps(status.identity, name: "counter_\(child.pid).db"))
        #expect(table.selfAndAncestors().contains(Int(getpid())))
        #expect(table.pids().contains(child.pid))
        child.stop()
        #expect(table.lookup(child.pid) == .absent)
    }
}

extension ProcessTableTests {
    @Test func statIsParsedFromItsBytes() throws {
        let line = "4242 (a) b (c)) R 7 4242 4242 0 -1 4194560 10 0 0 0 123 45 6789 10 20 0 3 0 5000 35282944 5668 18446744073709551615 1 1 140729638964720 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
        let stat = try #require(ProcessStat(parsing: line))
        #expect(stat.command == "a) b (c)" && stat.state == "R" && stat.parent == 7)
        #expect(stat.userTicks == 123 && stat.systemTicks == 45 && stat.childrenUserTicks == 6789 && stat.childrenSystemTicks == 10)
        #expect(stat.threads == 3 && stat.startTicks == 5000 && stat.virtualBytes == 35282944 && stat.residentPages == 5668)
        #expect(stat.startStack == 140729638964720 && !stat.isKernelThread && !stat.hasExited)
        #expect(ProcessStat(parsing: "1 (x) X 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0")?.hasExited == true)
        #expect(ProcessStat(parsing: "1 (x) S 0 1 1 0 -1 0 0 0 0 0 99999999999999999999999 0 0 0 20 0 1 0 9 0 0") == nil, "overflow")
        #expect(ProcessStat(parsing: "1 (x) S 0 1 1 0 -1 0 0 0 0 0 1a 0 0 0 20 0 1 0 9 0 0") == nil)
        #expect(ProcessStat(parsing: "1 x S 0") == nil && ProcessStat(parsing: "") == nil)
    }

    /// What the usage readers say about a real child, against what the kernel says elsewhere.
    @Test func usageOfARealChild() throws {
        let dir = TemporaryDirectory()
        let child = try RealWriter.start(in: dir)
        defer { child.stop() }
        let table = ProcessTable()
        let stat = try table.stat(of: child.pid).get()
        let text = try #require(FileContents.text("/proc/\(child.pid)/stat"))
        let fields = text[text.index(after: text.lastIndex(of: ")")!)...].split(separator: " ")
        #expect(stat.userTicks == UInt64(fields[11])! && stat.startTicks == UInt64(fields[19])! && stat.parent == Int(getpid()))
        let listed = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(child.pid)/fd").count
        #expect(try table.openDescriptors(of: child.pid).get() == listed)
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        #expect(try table.maxOpenDescriptors(of: child.pid).get() == Double(limit.rlim_cur), "inherited from this process")
        let pss = try table.proportionalSetBytes(of: child.pid).get()
        #expect(pss > 0 && pss <= stat.residentPages * UInt64(sysconf(Int32(_SC_PAGESIZE))) + 4096)
        let boot = try #require(table.bootTime())
        #expect(abs(boot - (BootClock.system.wallNow() - BootClock.system.bootNow())) < 2)
        child.stop()
        #expect(table.stat(of: child.pid) == .failure(.gone))
        #expect(table.openDescriptors(of: child.pid) == .failure(.gone))
        #expect(table.proportionalSetBytes(of: child.pid) == .failure(.gone))
    }

    /// A handle reads what the path reads, and reads "gone" once the process is reaped, whoever
    /// takes its pid next; a test tree gets none (its files are replaced, not rewritten).
    @Test func aHandleReadsItsProcessOnly() throws {
        let dir = TemporaryDirectory()
        let child = try RealWriter.start(in: dir)
        defer { child.stop() }
        let table = ProcessTable()
        let handle = try #require(ProcessHandle(pid: child.pid, in: table))
        #expect(try handle.stat().get().startTicks == table.stat(of: child.pid).get().startTicks)
        #expect(try handle.openDescriptors().get() == table.openDescriptors(of: child.pid).get())
        child.stop()
        #expect(handle.stat() == .failure(.gone))
        #expect(handle.openDescriptors() == .failure(.gone))
        #expect(ProcessHandle(pid: child.pid, in: table) == nil)
        let fake = FakeProc()
        fake.add(pid: 42, start: 1)
        #expect(ProcessHandle(pid: 42, in: fake.table) == nil)
    }

    @Test func failuresAreNamedByErrno() {
        #expect(ProcReadFailure(errno: ENOENT) == .gone && ProcReadFailure(errno: ESRCH) == .gone)
        #expect(ProcReadFailure(errno: EACCES) == .denied && ProcReadFailure(errno: EPERM) == .denied)
        #expect(ProcReadFailure(errno: EIO) == .failed(EIO))
    }
}

/// A real Python child that maps its own `counter_<pid>.db` and `gauge_livesum_<pid>.db`
/// read-write and shared, as prometheus_client does, and sleeps until stopped.
final class RealWriter {
    let process: ChildProcess
    var pid: Int { Int(process.pid) }

    static let script = """
        import mmap, os, sys, time
        maps = []
        for prefix in ('counter', 'gauge_livesum'):
            f = open(os.path.join(sys.argv[1], '%s_%d.db' % (prefix, os.getpid())), 'a+b')
            f.truncate(65536)
            maps.append(mmap.mmap(f.fileno(), 65536, access=mmap.ACCESS_WRITE))
        print('ready', flush=True)
        time.sleep(120)
        """

    private init(process: ChildProcess) { self.process = process }

    static func start(in dir: TemporaryDirectory) throws -> RealWriter {
        let process = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, dir.path])
        guard process.waitForStdout(containing: "ready\n") else {  // the files are mapped
            throw ChildProcess.Failure(description: "the writer did not start: \(process.stderr)")
        }
        return RealWriter(process: process)
    }

    func stop() {
        process.send(SIGKILL)
        process.wait()
    }
}
