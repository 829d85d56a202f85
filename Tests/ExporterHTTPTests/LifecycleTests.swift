import ExporterHTTP
import Foundation
import MultiprocSupport
import TestSupport
import Testing

@Suite("Shutdown and the serve command")
struct LifecycleTests {
    @Test func shutdownFinishesInFlightRepliesThenStopsAccepting() throws {
        let slow = Locked<SlowSource?>(nil)
        let server = try TestServer(source: { c in
            let source = SlowSource(c, delay: 0.6)
            slow.withLock { $0 = source }
            return source
        })
        let port = server.port
        let status = Locked<Int?>(nil)
        let scrape = Thread {
            let code = (try? RawHTTPClient.request(port: port, "GET", "/metrics"))?.status ?? -1
            status.withLock { $0 = code }
        }
        scrape.start()
        #expect(waitUntil { slow.withLock { $0 }!.collects == 1 })  // the scrape is in flight
        let started = Date()
        #expect(server.stop())
        #expect(Date().timeIntervalSince(started) < 3)
        // The reply went out before stop() returned; the client thread may still be reading it.
        #expect(waitUntil { status.withLock { $0 } != nil })
        #expect(status.withLock { $0 } == 200)
        #expect(throws: RawHTTPClient.Failure.self) { try RawHTTPClient.connect(port: port) }
        #expect(server.log.all.contains { $0.contains("msg=\"shutting down\"") })
    }

    @Test func shutdownGivesUpAfterTheTimeout() throws {
        let server = try TestServer(configure: { $0.limits.shutdownTimeout = 0.3 }, source: { SlowSource($0, delay: 3) })
        let port = server.port
        Thread { _ = try? RawHTTPClient.request(port: port, "GET", "/metrics", timeout: 5) }.start()
        usleep(200_000)
        let started = Date()
        #expect(server.stop())
        #expect(Date().timeIntervalSince(started) < 2)
    }

    @Test func clientsThatLeftDoNotHoldUpShutdown() throws {
        let server = try TestServer(configure: { $0.limits.shutdownTimeout = 8 }, source: { SlowSource($0, delay: 0.3) })
        // A body far larger than the socket buffers, so that writing it to a closed peer fails.
        let many = (0..<30_000).map {
            MetricFileWriter.Entry(metric: "wide", sample: "wide_total", labels: ["series": "s\($0)"], help: "Wide.", value: 1)
        }
        try MetricFileWriter.write(many, to: server.fixture.url, name: "counter_103.db")
        for _ in 0..<3 {
            let fd = try RawHTTPClient.connect(port: server.port)
            let request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
            _ = request.withCString { send(fd, $0, strlen($0), 0) }
            close(fd)  // gone before the reply is written
        }
        usleep(800_000)  // the replies have been attempted by now
        let started = Date()
        #expect(server.stop())
        #expect(Date().timeIntervalSince(started) < 2)
    }

    // MARK: The built binary

    /// `multiproc-exporter` next to the test bundle in the build directory.
    static let binary: URL? = {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [bundle, bundle.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("multiproc-exporter")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }()

    /// Starts `serve` on 127.0.0.1:0 with `arguments` and waits for its `listening` line;
    /// returns the process (its output is read all along: ``ChildProcess``) and the port it
    /// logged, nil when it exited first.
    static func launch(_ arguments: [String]) throws -> (ChildProcess, Int?) {
        let child = try ChildProcess(binary!, ["serve", "--web.listen-address", "127.0.0.1:0"] + arguments)
        guard child.waitForStderr(containing: "msg=listening") else { return (child, nil) }
        let text = child.stderr
        let port = text.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression)
            .flatMap { Int(text[$0].split(separator: ":").last!) }
        return (child, port)
    }

    /// Starts `serve` with `arguments`, which must make it fail at start: it never listens and
    /// exits with status 2. Returns what it wrote on stderr.
    static func startupFailure(_ arguments: [String]) throws -> String {
        let (child, port) = try launch(arguments)
        let exit = child.wait()
        #expect(port == nil)
        #expect(exit.status == 2)
        return exit.stderr
    }

    /// `serve` through every kind of request, then SIGTERM: exit status 0. Under `make
    /// sanitize` the binary is the ASan build and LeakSanitizer checks it at this exit (a
    /// leak is exit status 1 with the report on stderr): this is the server's leak test.
    @Test(.enabled(if: binary != nil)) func sigtermAfterEveryKindOfRequestExitsZero() throws {
        let fixture = try FixtureDirectory.make()
        defer { fixture.remove() }
        let (child, logged) = try Self.launch(["--multiproc-dir", fixture.path, "--scrape.min-interval", "1s"])
        let port = try #require(logged)
        let r = try RawHTTPClient.request(port: port, "GET", "/metrics")
        #expect(r.status == 200)
        #expect(r.text.contains("jobs_total{kind=\"a\"} 7.0"))
        let variants: [[(String, String)]] = [
            [("Accept-Encoding", "gzip")], [("Accept", "application/openmetrics-text; version=1.0.0; escaping=allow-utf-8")],
            [("Accept", "text/plain; version=1.0.0"), ("Accept-Encoding", "gzip")],
        ]
        for headers in variants + variants {  // the second round is served from the cached bodies
            #expect(try RawHTTPClient.request(port: port, "GET", "/metrics", headers: headers).status == 200)
        }
        #expect(try RawHTTPClient.request(port: port, "POST", "/mark-dead/101").status == 200)
        #expect(try RawHTTPClient.request(port: port, "GET", "/metrics").text.contains("\ninflight 2.0\n"))
        #expect(try RawHTTPClient.request(port: port, "HEAD", "/metrics").status == 200)
        for path in ["/healthz", "/", "/nope"] { _ = try RawHTTPClient.request(port: port, "GET", path) }
        #expect(try RawHTTPClient.request(port: port, "DELETE", "/metrics").status == 405)
        child.send(SIGTERM)
        let exit = child.wait()
        #expect(!exit.signaled)
        #expect(exit.status == 0, "\(exit.stderr)")
        #expect(!exit.stderr.contains("LeakSanitizer"), "\(exit.stderr)")
    }

    @Test(.enabled(if: binary != nil)) func missingDirectoryIsExitCode2WithOneLine() throws {
        let text = try Self.startupFailure(["--multiproc-dir", "/nonexistent/multiproc-\(UUID().uuidString)"])
        let lines = text.split(separator: "\n")
        #expect(lines.count == 1, "\(text)")
        #expect(text.contains("level=error") && text.contains("nonexistent"))
    }

    @Test(.enabled(if: binary != nil)) func emptyTokenFileIsAStartupError() throws {
        let fixture = try FixtureDirectory.make()
        defer { fixture.remove() }
        let tokenFile = fixture.url.appendingPathComponent("token")
        try Data("\n".utf8).write(to: tokenFile)
        _ = try Self.startupFailure(["--multiproc-dir", fixture.path, "--web.admin-token-file", tokenFile.path])
    }
}
