import Foundation
import MultiprocSupport
import Testing
import TestSupport
@testable import MultiprocCollector

/// ``WorkerCollector`` on the real `/proc`: a ``PreforkApp`` (a Python parent, two forked
/// workers that map their files and burn CPU); then the workers exit and the parent reaps them.
@Suite("WorkerCollector: a real pre-fork parent and its workers")
struct WorkerCollectorRealTests {
    /// (user, system, children user, children system) ticks of `pid` as the kernel says.
    static func times(_ pid: Int) throws -> [UInt64] {
        let text = try #require(FileContents.text("/proc/\(pid)/stat"))
        let fields = text[text.index(after: text.lastIndex(of: ")")!)...].split(separator: " ")
        return (11...14).map { UInt64(fields[$0])! }
    }

    @Test func workersParentAndTheirCPUAreWhatTheKernelSays() throws {
        let dir = TemporaryDirectory()
        let app = try PreforkApp(directory: dir.path)
        defer { app.stop() }
        let workers = app.workers
        let collector = WorkerCollector(directory: dir.path)
        let ticks = ProcessTable().ticksPerSecond
        let report = collector.collect()
        #expect(report.visible == true)
        #expect(report.parents.map(\.pid) == [app.pid])
        #expect(report.workers.map(\.pid) == workers)
        var live: [UInt64] = [0, 0]
        for worker in report.workers {
            let kernel = try Self.times(worker.pid)  // the workers sleep now: their times stand still
            #expect(worker.cpu == CPUTime(user: Double(kernel[0]) / ticks, system: Double(kernel[1]) / ticks))
            live[0] += kernel[0] + kernel[2]
            live[1] += kernel[1] + kernel[3]
        }
        let parent = try Self.times(app.pid)
        #expect(report.workersCPU == CPUTime(user: Double(parent[2] + live[0]) / ticks, system: Double(parent[3] + live[1]) / ticks))
        #expect(report.workersCPU.user + report.workersCPU.system >= 0.58, "0.2 s and 0.4 s of CPU burnt, less a tick each")

        #expect(app.stopWorkers())
        let after = collector.collect()
        #expect(after.workers.isEmpty && after.workerExits == 2)
        let reaped = try Self.times(app.pid)
        #expect(after.workersCPU == CPUTime(user: Double(reaped[2]) / ticks, system: Double(reaped[3]) / ticks),
                "what the parent's cutime/cstime received, exactly")
        #expect(after.workersCPU.user >= report.workersCPU.user && after.workersCPU.system >= report.workersCPU.system)
    }

    /// A worker runs a writing subprocess (`exec`'d Python: no fork of the worker's, but its
    /// child) that burns CPU, exits and is reaped by the worker: the workers' total is then
    /// exactly the parent's children times plus the worker's own and children times, the
    /// subprocess counted once.
    @Test func aWritingSubprocessIsCountedOnceThroughItsWorker() throws {
        let dir = TemporaryDirectory()
        let script = """
            import mmap, os, subprocess, sys, time
            def write_file(directory):
                f = open(os.path.join(directory, 'counter_%d.db' % os.getpid()), 'a+b')
                f.truncate(65536)
                m = mmap.mmap(f.fileno(), 65536, access=mmap.ACCESS_WRITE)
                m[0:4] = (8).to_bytes(4, 'little')
                return m
            if sys.argv[2] == 'child':
                m = write_file(sys.argv[1])
                end = time.process_time() + 0.3
                while time.process_time() < end:
                    pass
                os.write(1, b'child %d\\n' % os.getpid())
                time.sleep(120)
                os._exit(0)
            pid = os.fork()
            if pid == 0:
                m = write_file(sys.argv[1])
                child = subprocess.Popen([sys.executable, '-c', sys.argv[3], sys.argv[1], 'child'])
                os.write(1, b'worker %d\\n' % os.getpid())
                child.wait()
                os.write(1, b'child reaped\\n')
                time.sleep(120)
                os._exit(0)
            os.waitpid(pid, 0)
            """
        let app = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, dir.path, "app", script])
        defer { app.send(SIGKILL); app.wait() }
        func pid(_ role: String) -> Int? {
            app.stdout.split(separator: "\n").first { $0.hasPrefix(role + " ") }.flatMap { Int($0.dropFirst(role.count + 1)) }
        }
        #expect(waitUntil(timeout: 30) { pid("worker") != nil && pid("child") != nil }, "\(app.stdout) \(app.stderr)")
        let worker = try #require(pid("worker")), child = try #require(pid("child"))
        defer { kill(pid_t(worker), SIGKILL) }
        let collector = WorkerCollector(directory: dir.path)
        let ticks = ProcessTable().ticksPerSecond
        let before = collector.collect()
        #expect(before.workers.map(\.pid) == [worker, child].sorted())
        #expect(before.parents.map(\.pid) == [Int(app.pid)])

        kill(pid_t(child), SIGTERM)
        #expect(app.waitForStdout(containing: "child reaped", timeout: 20))
        let after = collector.collect()
        #expect(after.workers.map(\.pid) == [worker] && after.workerExits == 1)
        let parent = try Self.times(Int(app.pid)), own = try Self.times(worker)
        #expect(own[2] + own[3] >= 25, "the child's 0.3 s reached the worker's children times")
        #expect(after.workersCPU == CPUTime(user: Double(parent[2] + own[0] + own[2]) / ticks,
                                            system: Double(parent[3] + own[1] + own[3]) / ticks),
                "the child once, through its worker")
    }
}
