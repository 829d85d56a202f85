import ExporterHTTP
import MultiprocCollector
import Foundation
import Testing
import TestSupport

/// `serve --auto-mark-dead` in process: real processes, the real /proc, a real socket.
@Suite("Auto mark-dead in the server")
struct AutoMarkDeadTests {
    /// A pid whose process really exited gets pid 101's files; a real writer (a Python child
    /// mapping its files, as prometheus_client does) makes the app visible. The dead pid's live
    /// gauge goes within a few intervals, exactly as POST /mark-dead would remove it; the
    /// writer's files stay.
    @Test func deadPidIsMarkedLikePostMarkDeadAndTheWriterIsLeftAlone() throws {
        try TestServer.with(configure: { $0.autoMarkDeadInterval = 0.1 }) { server in
            let dir = server.fixture.path
            let gone = try ChildProcess(URL(fileURLWithPath: "/bin/true"), [])
            gone.wait()
            let dead = gone.pid
            for prefix in ["counter", "histogram", "gauge_livesum"] {
                try FileManager.default.moveItem(atPath: "\(dir)/\(prefix)_101.db", toPath: "\(dir)/\(prefix)_\(dead).db")
                try FileManager.default.removeItem(atPath: "\(dir)/\(prefix)_102.db")
            }
            let writer = try Self.writer(in: dir)
            defer { writer.send(SIGKILL); writer.wait() }

            #expect(Self.waitUntil { !FileManager.default.fileExists(atPath: "\(dir)/gauge_livesum_\(dead).db") })
            // The writer seen is kept for the next start (multiproc-exporter.writers).
            #expect(server.fixture.files() == ["counter_\(dead).db", "gauge_livesum_\(writer.pid).db", "histogram_\(dead).db",
                                               "multiproc-exporter.writers"])
            #expect(try String(contentsOfFile: "\(dir)/multiproc-exporter.writers", encoding: .utf8).contains(" gauge_livesum_\(writer.pid).db\n"))
            let metrics = try server.get("/metrics").text
            #expect(!metrics.contains("inflight"), "the dead pid's live gauge is no longer served")
            #expect(metrics.contains("jobs_total{kind=\"a\"} 3.0"), "its counters are")
            #expect(metrics.contains("multiproc_exporter_auto_mark_dead_pids_marked_total{reason=\"exited\"} 1.0"))
            #expect(metrics.contains("multiproc_exporter_auto_mark_dead_pids_visible 1.0"))
            #expect(metrics.contains("multiproc_exporter_auto_mark_dead_pids_remembered 1.0"))
            #expect(metrics.contains("multiproc_exporter_auto_mark_dead_pids_skipped_total{reason=\"unconfirmed\"} 1.0"))
            #expect(metrics.contains("multiproc_exporter_mark_dead_requests_total{result=\"removed\"} 0.0"), "not an HTTP request")
            #expect(server.log.all.contains { $0.contains("msg=\"marked pid dead\"") && $0.contains("by=auto-mark-dead") && $0.contains("pid=\(dead)") })
        }
    }

    /// A writer like prometheus_client's: maps its live gauge file read-write, then sleeps.
    static func writer(in dir: String) throws -> ChildProcess {
        let writer = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", """
            import mmap, os, struct, sys, time
            f = open(os.path.join(sys.argv[1], 'gauge_livesum_%d.db' % os.getpid()), 'a+b')
            f.truncate(65536)
            m = mmap.mmap(f.fileno(), 65536, access=mmap.ACCESS_WRITE)
            struct.pack_into('i', m, 0, 8)
            print('ready', flush=True)
            time.sleep(60)
            """, dir])
        #expect(writer.waitForStdout(containing: "ready\n"), "\(writer.stderr)")
        return writer
    }

    static func waitUntil(_ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }

    /// The app stops: its only writer SIGKILLed, no process of it left to see. The writer was
    /// seen, so its live gauge goes; files of a pid never seen (a worker that lived and died
    /// between two checks) stay.
    @Test func aStoppedAppsLiveGaugesGo() throws {
        try TestServer.with(configure: { $0.autoMarkDeadInterval = 0.1 }) { server in
            let dir = server.fixture.path
            for pid in [101, 102] {
                for prefix in ["counter", "histogram", "gauge_livesum"] { try FileManager.default.removeItem(atPath: "\(dir)/\(prefix)_\(pid).db") }
            }
            let writer = try Self.writer(in: dir)
            #expect(try Self.waitUntil { try server.get("/metrics").text.contains("multiproc_exporter_auto_mark_dead_pids_remembered 1.0") })
            writer.send(SIGKILL)
            writer.wait()
            let unseen = try ChildProcess(URL(fileURLWithPath: "/bin/true"), [])
            unseen.wait()
            try FileManager.default.copyItem(atPath: "\(dir)/gauge_livesum_\(writer.pid).db", toPath: "\(dir)/gauge_livesum_\(unseen.pid).db")
            #expect(try Self.waitUntil { !FileManager.default.fileExists(atPath: "\(dir)/gauge_livesum_\(writer.pid).db") })
            usleep(500_000)  // five more checks
            let metrics = try server.get("/metrics").text
            #expect(metrics.contains("multiproc_exporter_auto_mark_dead_pids_marked_total{reason=\"exited\"} 1.0"))
            #expect(metrics.contains("multiproc_exporter_auto_mark_dead_pids_visible 0.0"))
            #expect(FileManager.default.fileExists(atPath: "\(dir)/gauge_livesum_\(unseen.pid).db"), "never seen: not guessed at")
            #expect(server.log.all.contains { $0.contains("auto mark-dead: none of the pids") })
        }
    }

    /// The exporter restarts while the app stops: the restarted one reads the writers the first
    /// saw (multiproc-exporter.writers) and marks them.
    @Test func aRestartedExporterMarksTheWritersTheFirstOneSaw() throws {
        let fixture = try FixtureDirectory.make()
        defer { fixture.remove() }
        let dir = fixture.path
        for pid in [101, 102] {
            for prefix in ["counter", "histogram", "gauge_livesum"] { try FileManager.default.removeItem(atPath: "\(dir)/\(prefix)_\(pid).db") }
        }
        let configure: (inout ExporterConfiguration) -> Void = { $0.autoMarkDeadInterval = 0.1; $0.directory = dir }
        let writer = try Self.writer(in: dir)
        defer { writer.send(SIGKILL); writer.wait() }
        try TestServer.with(configure: configure, source: { _ in try! DirectoryCollector(directory: dir) }) { server throws in
            #expect(try Self.waitUntil { FileManager.default.fileExists(atPath: "\(dir)/multiproc-exporter.writers") })
        }
        writer.send(SIGKILL)
        writer.wait()
        try TestServer.with(configure: configure, source: { _ in try! DirectoryCollector(directory: dir) }) { server throws in
            #expect(try Self.waitUntil { !FileManager.default.fileExists(atPath: "\(dir)/gauge_livesum_\(writer.pid).db") })
            #expect(try server.get("/metrics").text.contains("multiproc_exporter_auto_mark_dead_pids_marked_total{reason=\"exited\"} 1.0"))
        }
    }

    @Test func offByDefault() throws {
        try TestServer.with { server in
            usleep(300_000)
            let metrics = try server.get("/metrics").text
            #expect(!metrics.contains("auto_mark_dead"))
            #expect(server.fixture.files().count == 6)
        }
    }

    @Test(arguments: [0.0, 0.01, 90_000])
    func intervalOutOfRangeIsRefused(seconds: Double) {
        var config = ExporterConfiguration()
        config.autoMarkDeadInterval = seconds
        #expect(throws: ConfigurationError.self) { try config.validate() }
    }
}
