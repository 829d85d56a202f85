import ExporterHTTP
import Foundation
import MultiprocCollector
import Testing
import TestSupport

/// The workers collector in the server: a real pre-fork app (``PreforkApp``) writes into the
/// fixture directory, the real `/proc`, a real socket.
@Suite("The workers collector in the server: multiproc_worker_*, multiproc_parent_*")
struct WorkerMetricsTests {
    /// `name{labels}` → value of a text exposition.
    static func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            out[String(line[..<space])] = value
        }
        return out
    }

    /// Gives the fixture's made-up pids (101, 102) to processes that really exited.
    static func fixturePidsToExitedProcesses(_ dir: String) throws {
        for made in [101, 102] {
            let gone = try ChildProcess(URL(fileURLWithPath: "/bin/true"), [])
            gone.wait()
            for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasSuffix("_\(made).db") {
                try FileManager.default.moveItem(atPath: "\(dir)/\(name)", toPath: "\(dir)/\(name.dropLast("\(made).db".count))\(gone.pid).db")
            }
        }
    }

    @Test func workersAndTheirParentAreServedAfterTheMergedMetricsAndFollowTheApp() throws {
        try TestServer.with(configure: { $0.workers = WorkersCollection(proportionalMemoryInterval: 0.05) }) { server in
            try Self.fixturePidsToExitedProcesses(server.fixture.path)
            let app = try PreforkApp(directory: server.fixture.path)
            defer { app.stop() }
            let text = try server.get("/metrics").text
            let got = Self.samples(text)
            #expect(got["multiproc_workers"] == 2 && got["multiproc_parents"] == 1)
            for pid in app.workers {
                #expect(got["multiproc_worker_cpu_seconds_total{mode=\"user\",pid=\"\(pid)\"}"] != nil)
                #expect(got["multiproc_worker_resident_memory_bytes{pid=\"\(pid)\"}"].map { $0 > 1_000_000 } == true)
                #expect(got["multiproc_worker_open_fds{pid=\"\(pid)\"}"].map { $0 >= 3 } == true)
                for measure in ["virtual_memory_bytes", "max_fds", "threads", "start_time_seconds"] {
                    #expect(got["multiproc_worker_\(measure){pid=\"\(pid)\"}"] != nil, "\(measure)")
                }
            }
            #expect(got["multiproc_parent_cpu_seconds_total{mode=\"system\",pid=\"\(app.pid)\"}"] != nil)
            let burnt = (got["multiproc_workers_cpu_seconds_total{mode=\"user\"}"] ?? 0) + (got["multiproc_workers_cpu_seconds_total{mode=\"system\"}"] ?? 0)
            #expect(burnt >= 0.58, "0.2 s and 0.4 s of CPU, less a tick each")
            #expect(got["multiproc_worker_exits_total"] == 0)
            #expect(got["multiproc_exporter_workers_visible"] == 1)
            for reason in WorkerSkipReason.allCases {
                #expect(got["multiproc_exporter_workers_skipped_total{reason=\"\(reason.rawValue)\"}"] == 0, "\(reason.rawValue)")
            }
            // The merged families, then the app's processes, then the exporter's own.
            let merged = try #require(text.range(of: "# HELP jobs_total"))
            let workers = try #require(text.range(of: "# HELP multiproc_parent_cpu_seconds_total"))
            let own = try #require(text.range(of: "# HELP multiproc_exporter_"))
            #expect(merged.lowerBound < workers.lowerBound && workers.lowerBound < own.lowerBound)

            // Proportional memory arrives from the background, not from the scrape.
            #expect(waitUntil(timeout: 10) {
                let got = Self.samples((try? server.get("/metrics").text) ?? "")
                return app.workers.allSatisfy { got["multiproc_worker_proportional_memory_bytes{pid=\"\($0)\"}"].map { $0 > 0 } == true }
            })

            #expect(app.stopWorkers())
            let after = Self.samples(try server.get("/metrics").text)
            #expect(after["multiproc_workers"] == 0 && after["multiproc_worker_exits_total"] == 2)
            #expect(!after.keys.contains { $0.hasPrefix("multiproc_worker_cpu_seconds_total{") }, "a worker's series end with it")
            let total = (after["multiproc_workers_cpu_seconds_total{mode=\"user\"}"] ?? 0) + (after["multiproc_workers_cpu_seconds_total{mode=\"system\"}"] ?? 0)
            #expect(total >= burnt, "the reaped workers' CPU stays, through the parent's cutime/cstime")
            #expect(!server.log.all.contains { $0.contains("level=warn") }, "\(server.log.all)")
        }
    }

    @Test func openMetricsEndsAfterThemAndPromtoolStyleNamesHold() throws {
        try TestServer.with(configure: { $0.workers = WorkersCollection() }) { server in
            let app = try PreforkApp(directory: server.fixture.path, workers: 1)
            defer { app.stop() }
            let text = try server.get("/metrics", headers: [("Accept", "application/openmetrics-text; version=1.0.0")]).text
            #expect(text.contains("# TYPE multiproc_worker_cpu_seconds counter\n"))
            #expect(text.contains("multiproc_worker_cpu_seconds_total{mode=\"user\",pid=\"\(app.workers[0])\"}"))
            #expect(text.contains("# TYPE multiproc_workers gauge\n"))
            #expect(text.hasSuffix("\n# EOF\n") && text.components(separatedBy: "# EOF").count == 2)
        }
    }

    @Test func keptWithoutExporterMetricsAndGoneWhenTurnedOff() throws {
        try TestServer.with(configure: { $0.workers = WorkersCollection(); $0.exporterMetricsEnabled = false }) { server in
            let app = try PreforkApp(directory: server.fixture.path, workers: 1)
            defer { app.stop() }
            let text = try server.get("/metrics").text
            #expect(text.contains("multiproc_workers 1.0"), "they describe the app, not the exporter")
            #expect(!text.contains("multiproc_exporter_"))
        }
        try TestServer.with(configure: { $0.workers = nil }) { server in
            let app = try PreforkApp(directory: server.fixture.path, workers: 1)
            defer { app.stop() }
            let text = try server.get("/metrics").text
            #expect(!text.contains("# HELP multiproc_worker") && !text.contains("# HELP multiproc_parent") && !text.contains("multiproc_exporter_workers"))
        }
    }

    @Test func anInvisibleAppGetsNothingAndOneLine() throws {
        try TestServer.with(configure: { $0.workers = WorkersCollection() }) { server in
            try Self.fixturePidsToExitedProcesses(server.fixture.path)
            var got: [String: Double] = [:]
            for _ in 0..<3 {
                let text = try server.get("/metrics").text
                #expect(!text.contains("# HELP multiproc_worker") && !text.contains("# HELP multiproc_parent"))
                got = Self.samples(text)
            }
            #expect(got["multiproc_exporter_workers_visible"] == 0)
            #expect(got["multiproc_exporter_workers_skipped_total{reason=\"not_visible\"}"] == 3)
            let lines = server.log.all.filter { $0.contains("workers: none of the pids") }
            #expect(lines.count == 1, "\(lines)")
            #expect(!server.log.all.contains { $0.contains("level=warn") || $0.contains("level=error") })
            // The app shows up: served from then on, and said once.
            let app = try PreforkApp(directory: server.fixture.path, workers: 1)
            defer { app.stop() }
            #expect(Self.samples(try server.get("/metrics").text)["multiproc_workers"] == 1)
            #expect(server.log.all.filter { $0.contains("the app's processes are visible") }.count == 1)
        }
    }

    /// A look that cannot finish (reading a process's memory map waits on a process stuck in the
    /// kernel; here the map is a FIFO nobody writes yet): scrapes go on without it, say so once,
    /// and serve the look once it ends.
    @Test func aLookThatHangsDoesNotHoldUpScrapes() throws {
        let proc = TemporaryDirectory(prefix: "fake-proc")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        func process(_ pid: Int, start: Double) throws {
            try FileManager.default.createDirectory(atPath: proc.file("\(pid)"), withIntermediateDirectories: true)
            try "\(pid) (python3) S 1 \(pid) \(pid) 0 -1 4194560 0 0 0 0 5 3 0 0 20 0 1 0 \(UInt64(start * ticks)) 1000 200 1 1 1 777 0\n"
                .write(toFile: proc.file("\(pid)/stat"), atomically: true, encoding: .utf8)
            try "Tgid:\t\(pid)\nUid:\t\(getuid())\t\(getuid())\t\(getuid())\t\(getuid())\nNSpid:\t\(pid)\n"
                .write(toFile: proc.file("\(pid)/status"), atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: proc.file("\(pid)/fd"), withIntermediateDirectories: true)
            try "Max open files            1024                 4096                 files     \n"
                .write(toFile: proc.file("\(pid)/limits"), atomically: true, encoding: .utf8)
        }
        try process(1, start: 0)
        try FileManager.default.createSymbolicLink(atPath: proc.file("self"), withDestinationPath: "1")
        try process(101, start: 1)  // holds the fixture's pid 101 since boot
        #expect(mkfifo(proc.file("101/maps"), 0o600) == 0)
        try TestServer.with(configure: { config in
            var workers = WorkersCollection()
            workers.processRoot = proc.path
            config.workers = workers
        }) { server in
            for scrape in 0..<3 {
                let started = Date()
                let r = try server.get("/metrics")
                let took = Date().timeIntervalSince(started)
                #expect(r.status == 200 && r.text.contains("jobs_total"))
                #expect(!r.text.contains("# HELP multiproc_workers "))
                // The first waits for its look up to WorkerScrape.lookWait (1 s); the next start none.
                #expect(scrape == 0 ? took >= 0.9 && took < 3 : took < 0.5, "scrape \(scrape) took \(took)s")
            }
            #expect(server.log.all.filter { $0.contains("workers: a look at the app's processes takes longer") }.count == 1)
            // The map arrives: 101 maps its counter file, the look ends, the next scrapes have it.
            var info = stat()
            lstat(server.fixture.path + "/counter_101.db", &info)
            let device = DeviceInode(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            let fifo = open(proc.file("101/maps"), O_WRONLY)
            let line = "7f0000000000-7f0000010000 rw-s 00000000 \(device) \(server.fixture.path)/counter_101.db\n"
            _ = line.withCString { write(fifo, $0, strlen($0)) }
            close(fifo)
            #expect(waitUntil(timeout: 10) { (try? server.get("/metrics").text.contains("multiproc_worker_threads{pid=\"101\"} 1.0")) == true })
        }
    }

    @Test func textfilesMustLeaveTheirNames() {
        var config = ExporterConfiguration()
        var names = Set(ExporterServer.ownMetricNames(config).families.map(\.name))
        for name in ["multiproc_workers", "multiproc_workers_cpu_seconds", "multiproc_worker_exits", "multiproc_worker_cpu_seconds",
                     "multiproc_worker_proportional_memory_bytes", "multiproc_parent_start_time_seconds", "multiproc_parents_cpu_seconds",
                     "process_open_fds"] {
            #expect(names.contains(name), "\(name)")
        }
        #expect(names.filter { $0.hasPrefix("multiproc_worker") || $0.hasPrefix("multiproc_parent") }.count == 22)
        config.exporterMetricsEnabled = false
        let reserved = ExporterServer.ownMetricNames(config)
        names = Set(reserved.families.map(\.name))
        #expect(reserved.prefix == nil && names.contains("multiproc_workers") && !names.contains("process_open_fds"))
        config.workers = nil
        #expect(ExporterServer.ownMetricNames(config).families.isEmpty)
    }

    @Test(arguments: [-1.0, .nan])
    func aNegativeIntervalIsRefused(seconds: Double) {
        var config = ExporterConfiguration()
        config.workers = WorkersCollection(proportionalMemoryInterval: seconds)
        #expect(throws: ConfigurationError.self) { try config.validate() }
    }
}
