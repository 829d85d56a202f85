import Foundation
import MultiprocSupport
import Testing
import TestSupport
@testable import MultiprocCollector

/// ``WorkerCollector`` over real metric files and a fake `/proc`, where processes hold any pid
/// with any times, stack start and command, and the boot clock is the test's.
@Suite("WorkerCollector: writers, parents, exits, visibility, skips, cost")
struct WorkerCollectorTests {
    let dir = TemporaryDirectory()
    let proc = FakeProc(selfPid: 1)
    /// The fake boot clock's start: process start times are fixed against it, so that a
    /// process added again keeps its start tick.
    let base = bootNow()
    let now: Locked<Double>

    init() { now = Locked(base) }
    /// The app's parent: forks its workers without exec (stack start 777).
    static let arbiter = 50

    func makeCollector() -> WorkerCollector {
        let now = now, offset = BootClock.system.wallNow() - BootClock.system.bootNow()
        let clock = BootClock(bootNow: { now.withLock { $0 } }, wallNow: { now.withLock { $0 } + offset })
        return WorkerCollector(directory: dir.path, processes: proc.table, clock: clock)
    }

    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }

    /// A process that maps its files writable, as prometheus_client does.
    @discardableResult
    func writer(_ pid: Int, parent: Int = arbiter, stack: UInt64 = 777, cpu: (UInt64, UInt64, UInt64, UInt64) = (5, 3, 0, 0),
                start: Double? = nil, command: String = "gunicorn") -> [String] {
        let files = writeMetricFiles(dir, pid: pid)
        proc.add(pid: pid, start: start ?? base - 100, uid: getuid(), parent: parent, maps: files.map { ($0, true) },
                 cpu: cpu, startStack: stack, command: command)
        return files
    }

    func arbiter(cpu: (UInt64, UInt64, UInt64, UInt64) = (40, 20, 300, 100), stack: UInt64 = 777, command: String = "gunicorn") {
        proc.add(pid: Self.arbiter, start: base - 200, uid: getuid(), parent: 1, cpu: cpu, startStack: stack, command: command)
    }

    func seconds(_ ticks: UInt64) -> Double { Double(ticks) / proc.ticks }

    @Test func writersAreWorkersAndTheProcessThatForkedThemIsTheirParent() throws {
        arbiter()
        writer(60, cpu: (10, 2, 1, 0))
        writer(61, cpu: (20, 4, 0, 0))
        _ = writeMetricFiles(dir, pid: 70)  // a worker that exited before the exporter started
        let report = makeCollector().collect()
        #expect(report.visible == true)
        #expect(report.workers.map(\.pid) == [60, 61])
        #expect(report.parents.map(\.pid) == [50])
        let worker = report.workers[0]
        #expect(worker.cpu == CPUTime(user: seconds(10), system: seconds(2)), "its own time, not its children's")
        #expect(worker.residentBytes == 200 * Double(sysconf(Int32(_SC_PAGESIZE))) && worker.virtualBytes == 1000)
        #expect(worker.openDescriptors == 3 && worker.maxDescriptors == 1024 && worker.threads == 1)
        #expect(worker.proportionalBytes == nil, "read apart, at its own pace")
        #expect(report.parents[0].cpu == CPUTime(user: seconds(40), system: seconds(20)))
        // The arbiter's reaped children plus the live workers' own and reaped children.
        #expect(report.workersCPU == CPUTime(user: seconds(300 + 10 + 1 + 20), system: seconds(100 + 2 + 4)))
        #expect(report.parentsCPU == CPUTime(user: seconds(40), system: seconds(20)))
        #expect(report.workerExits == 0, "pids dead before the first look are no exits seen")
    }

    @Test func aParentIsOnlyOneThatForkedWithoutExec() throws {
        arbiter(stack: 999)  // the worker has another stack start: it was exec'd (a shell, systemd, a launcher)
        writer(60)
        var report = makeCollector().collect()
        #expect(report.workers.map(\.pid) == [60] && report.parents.isEmpty)
        #expect(report.workersCPU == CPUTime(user: seconds(5), system: seconds(3)), "no parent's children counted")

        // Stack starts unreadable (another user's processes): the command name decides.
        arbiter(stack: 0, command: "gunicorn")
        writer(61, stack: 0, command: "gunicorn")
        writer(62, parent: 1, stack: 0, command: "gunicorn")  // pid 1, this fake's exporter "self", is never taken
        proc.add(pid: 51, start: base - 200, uid: getuid(), parent: 1, startStack: 0, command: "bash")
        writer(63, parent: 51, stack: 0, command: "gunicorn")
        report = makeCollector().collect()
        #expect(report.parents.map(\.pid) == [50])
        #expect(report.workers.map(\.pid) == [60, 61, 62, 63])
    }

    @Test func aWriterThatForksWritersIsAParentAndTheTotalsDoNotDrop() throws {
        // A pre-loaded app: the arbiter writes metrics too, and is seen before its workers.
        let arbiterFiles = writeMetricFiles(dir, pid: Self.arbiter)
        proc.add(pid: Self.arbiter, start: base - 200, uid: getuid(), parent: 1, maps: arbiterFiles.map { ($0, true) },
                 cpu: (40, 20, 0, 0), startStack: 777, command: "gunicorn")
        let collector = makeCollector()
        var report = collector.collect()
        #expect(report.workers.map(\.pid) == [50] && report.parents.isEmpty)
        let before = report.workersCPU
        writer(60)
        report = collector.collect()
        #expect(report.workers.map(\.pid) == [60])
        #expect(report.parents.map(\.pid) == [50])
        #expect(report.workersCPU.user >= before.user && report.workersCPU.system >= before.system)
        #expect(report.parentsCPU == CPUTime(user: seconds(40), system: seconds(20)))
    }

    @Test func exitsAreCountedOnceAndTheTotalsFollowTheReap() throws {
        arbiter(cpu: (40, 20, 300, 100))
        writer(60, cpu: (10, 2, 0, 0))
        writer(61, cpu: (20, 4, 0, 0))
        let collector = makeCollector()
        _ = collector.collect()
        // 60 exits after spending 5 more ticks: a zombie until the arbiter reaps it.
        writer(60, cpu: (15, 2, 0, 0))
        proc.add(pid: 60, start: base - 100, uid: getuid(), state: "Z", parent: Self.arbiter, maps: nil, cpu: (15, 2, 0, 0), startStack: 0)
        var report = collector.collect()
        #expect(report.workers.map(\.pid) == [61])
        #expect(report.workerExits == 1)
        #expect(report.workersCPU == CPUTime(user: seconds(300 + 15 + 20), system: seconds(100 + 2 + 4)), "a zombie's times are still its own")
        // Reaped: its times move into the arbiter's children times, exactly.
        proc.remove(pid: 60)
        arbiter(cpu: (40, 20, 315, 102))
        report = collector.collect()
        #expect(report.workerExits == 1, "counted once")
        #expect(report.workersCPU == CPUTime(user: seconds(315 + 20), system: seconds(102 + 4)))
        // A worker born and gone between two looks: an exit too.
        _ = writeMetricFiles(dir, pid: 62)
        report = collector.collect()
        #expect(report.workerExits == 2)
        // The arbiter exits: its reaped workers stay counted; so does its own time.
        proc.remove(pid: Self.arbiter)
        report = collector.collect()
        #expect(report.parents.isEmpty && report.parentExits == 1)
        #expect(report.workersCPU == CPUTime(user: seconds(315 + 20), system: seconds(102 + 4)))
        #expect(report.parentsCPU == CPUTime(user: seconds(40), system: seconds(20)))
    }

    @Test func aProcessBeingReapedLeavesTheTotalsForTheNextLook() throws {
        arbiter(cpu: (40, 20, 300, 100))
        writer(60, cpu: (10, 2, 0, 0))
        let collector = makeCollector()
        let before = collector.collect().workersCPU
        // `X`: its parent is reaping it right now; its times may already be in the parent's.
        proc.add(pid: 60, start: base - 100, uid: getuid(), state: "X", parent: Self.arbiter, maps: nil, cpu: (12, 2, 0, 0), startStack: 0)
        arbiter(cpu: (40, 20, 312, 102))
        var report = collector.collect()
        #expect(report.workersCPU == before, "not counted twice, nor lost: left for the next look")
        #expect(report.workerExits == 0)
        proc.remove(pid: 60)
        report = collector.collect()
        #expect(report.workersCPU == CPUTime(user: seconds(312), system: seconds(102)))
        #expect(report.workerExits == 1)
    }

    /// A worker that runs a writing subprocess (`exec`: another stack start, so no fork of it)
    /// and reaps it: the subprocess's time reaches the worker's children times, and is counted
    /// there once, not also as the subprocess's last reading.
    @Test func aWritingSubprocessReapedByItsWorkerIsCountedOnce() throws {
        arbiter(cpu: (40, 20, 300, 100))
        writer(60, cpu: (10, 2, 0, 0))
        writer(70, parent: 60, stack: 555, cpu: (30, 5, 0, 0), command: "python3")
        let collector = makeCollector()
        var report = collector.collect()
        #expect(report.workers.map(\.pid) == [60, 70])
        #expect(report.workersCPU == CPUTime(user: seconds(300 + 10 + 30), system: seconds(100 + 2 + 5)))
        // The subprocess spends 3 more ticks, exits and is reaped by the worker.
        proc.remove(pid: 70)
        writer(60, cpu: (10, 2, 33, 5))
        report = collector.collect()
        #expect(report.workers.map(\.pid) == [60])
        #expect(report.workerExits == 1)
        #expect(report.workersCPU == CPUTime(user: seconds(300 + 10 + 33), system: seconds(100 + 2 + 5)))
    }

    /// A worker whose `stat` cannot be read for a while (here: contents the kernel does not
    /// write; in life `EMFILE`, `ENOMEM`) is not taken for gone: no exit, no series, the totals
    /// held for two looks, then going on with its last reading; once readable again it is the
    /// same member, its time counted once.
    @Test func aWorkerThatCannotBeReadForAWhileIsNeitherAnExitNorCountedTwice() throws {
        arbiter(cpu: (40, 20, 300, 100))
        writer(60, cpu: (10, 2, 0, 0))
        writer(61, cpu: (20, 4, 0, 0))
        let collector = makeCollector()
        let before = collector.collect().workersCPU
        try "garbage\n".write(toFile: "\(proc.root)/61/stat", atomically: true, encoding: .utf8)
        writer(60, cpu: (12, 2, 0, 0))
        var report = collector.collect()
        #expect(report.workerExits == 0)
        #expect(report.workers.map(\.pid) == [60], "no series for what could not be read")
        #expect(report.workersCPU == before, "held for this look")
        #expect(report.skipped[.unreadable] == 1)
        writer(60, cpu: (14, 2, 0, 0))
        for _ in 0..<3 { advance(61); report = collector.collect() }  // rechecks of unclaimed pids would find it again
        #expect(report.workers.map(\.pid) == [60] && report.workerExits == 0)
        #expect(report.workersCPU == CPUTime(user: seconds(300 + 14 + 20), system: seconds(100 + 2 + 4)),
                "from the third look on, the others go on; it counts with its last reading")
        writer(61, cpu: (25, 4, 0, 0))
        report = collector.collect()
        #expect(report.workerExits == 0)
        #expect(report.workers.map(\.pid) == [60, 61])
        #expect(report.workersCPU == CPUTime(user: seconds(300 + 14 + 25), system: seconds(100 + 2 + 4)))
    }

    @Test func aWorkerThatExitsWhileItIsReadHasNoSeriesThisTime() throws {
        arbiter()
        writer(60)
        writer(61)
        let collector = makeCollector()
        _ = collector.collect()
        try FileManager.default.removeItem(atPath: "\(proc.root)/61/fd")  // gone between its stat and its descriptors
        let report = collector.collect()
        #expect(report.workers.map(\.pid) == [60])
        #expect(report.skipped[.exited] == 1)
    }

    @Test func aReusedPidIsAnExitAndThenANewWorker() throws {
        arbiter()
        writer(60, start: base - 100)
        let collector = makeCollector()
        _ = collector.collect()
        // Another worker got pid 60 and took its files over (prometheus_client reopens them).
        writer(60, cpu: (1, 0, 0, 0), start: base - 10)
        var report = collector.collect()
        #expect(report.workerExits == 1)
        report = collector.collect()
        #expect(report.workers.map(\.pid) == [60])
        #expect(report.workers[0].cpu == CPUTime(user: seconds(1), system: 0))
    }

    @Test func aDeadPidWhoseFilesANewWorkerTakesOverIsFoundByALaterLook() throws {
        arbiter()
        writer(60)
        let files = writeMetricFiles(dir, pid: 70)  // dead, its files left behind
        let collector = makeCollector()
        #expect(collector.collect().workers.map(\.pid) == [60])
        // A new worker gets pid 70 and maps the old files: nothing in the listing changes.
        proc.add(pid: 70, start: base - 1, uid: getuid(), parent: Self.arbiter, maps: files.map { ($0, true) }, startStack: 777)
        #expect(collector.collect().workers.map(\.pid) == [60], "not due yet")
        advance(1.5)
        #expect(collector.collect().workers.map(\.pid) == [60, 70])
    }

    @Test func deadPidsCostAFewLooksAtMostAfterTheFirst() throws {
        arbiter()
        writer(60)
        for pid in 100..<300 { _ = writeMetricFiles(dir, pid: pid, names: ["counter"]) }
        let collector = makeCollector()
        #expect(collector.collect().pidsLookedAt == 201, "the writer and the 200 dead pids")
        #expect(collector.collect().pidsLookedAt == 0)
        for _ in 0..<20 {
            advance(3)
            let report = collector.collect()
            #expect(report.pidsLookedAt <= WorkerCollector.rechecksPerLook)
            #expect(report.workers.map(\.pid) == [60])
        }
    }

    @Test func nothingIsReadWhileNoWriterIsVisible() throws {
        #expect(makeCollector().collect().visible == nil, "an empty directory tells nothing")
        _ = writeMetricFiles(dir, pid: 70)
        _ = writeMetricFiles(dir, pid: 71)
        let collector = makeCollector()
        let report = collector.collect()
        #expect(report.visible == false)
        #expect(report.workers.isEmpty && report.parents.isEmpty)
        #expect(report.skipped == [.notVisible: 1])
        // Once a writer was seen, the app is visible: its workers exiting make it no less so.
        arbiter()
        writer(60)
        #expect(collector.collect().visible == true)
        proc.remove(pid: 60)
        proc.remove(pid: Self.arbiter)
        let stopped = collector.collect()
        #expect(stopped.visible == true && stopped.workers.isEmpty && stopped.workerExits == 1)
    }

    @Test func hiddenUnverifiableAndForeignHoldersAreSkippedWithAReason() throws {
        arbiter()
        writer(60)
        _ = writeMetricFiles(dir, pid: 80)
        try FileManager.default.createDirectory(atPath: "\(proc.root)/80", withIntermediateDirectories: true)  // hidepid
        _ = writeMetricFiles(dir, pid: 81)
        proc.add(pid: 81, start: base + 50, uid: getuid(), mapsReadable: false)  // started after its files, maps unreadable
        var report = makeCollector().collect()
        #expect(report.skipped[.hidden] == 1 && report.skipped[.unverifiable] == 1)
        #expect(report.visible == true && report.workers.map(\.pid) == [60])
        // A pid held by a thread of another process since before the files: the names carry
        // another pid namespace's pids, and nothing is served.
        _ = writeMetricFiles(dir, pid: 82)
        proc.add(pid: 82, start: base - 500, uid: getuid(), threadGroup: 2, maps: [])
        report = makeCollector().collect()
        #expect(report.skipped[.otherNamespace] == 1)
        #expect(report.visible == false && report.workers.isEmpty)
    }

    @Test func proportionalMemoryIsReadApartAndAtItsOwnPace() throws {
        arbiter()
        let files = writer(60)
        let collector = makeCollector()
        #expect(collector.collect().workers[0].proportionalBytes == nil)
        proc.add(pid: 60, start: base - 100, uid: getuid(), parent: Self.arbiter, maps: files.map { ($0, true) },
                 startStack: 777, pssKilobytes: 1234)
        collector.refreshProportionalMemory(olderThan: 3600)
        #expect(collector.collect().workers[0].proportionalBytes == Double(1234 * 1024))
        proc.add(pid: 60, start: base - 100, uid: getuid(), parent: Self.arbiter, maps: files.map { ($0, true) },
                 startStack: 777, pssKilobytes: 2000)
        collector.refreshProportionalMemory(olderThan: 3600)
        #expect(collector.collect().workers[0].proportionalBytes == Double(1234 * 1024), "not due again within the interval")
        collector.refreshProportionalMemory(olderThan: 0)
        #expect(collector.collect().workers[0].proportionalBytes == Double(2000 * 1024))
    }
}
