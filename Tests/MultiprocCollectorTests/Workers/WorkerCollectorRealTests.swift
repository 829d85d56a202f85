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
}
