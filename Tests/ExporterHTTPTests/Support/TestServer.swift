import ExporterHTTP
import Foundation
import MultiprocSupport
import Logging
import MultiprocCollector

/// Log lines captured from a server under test.
final class LogCapture: Sendable {
    private let lines = Locked<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var logger: Logger {
        Logger(label: "test") { _ in LineLogHandler(format: .logfmt, level: .debug) { [self] line in lines.withLock { $0.append(line) } } }
    }
}

/// A source that sleeps while collecting and counts its calls: makes merges slow on purpose.
final class SlowSource: MetricsSource {
    /// When the sleep happens: before the files are read (the refresh sees what is there when
    /// it ends), or after (it returns what was there when it started, like a long merge).
    enum Pause { case beforeReading, afterReading }

    let inner: DirectoryCollector
    let delay: Double
    let pause: Pause
    private let counts = Locked((started: 0, read: 0))
    /// Calls of ``collect()`` so far.
    var collects: Int { counts.withLock { $0.started } }
    /// Calls that have read the directory (the rest are still sleeping before reading).
    var reads: Int { counts.withLock { $0.read } }

    init(_ inner: DirectoryCollector, delay: Double, pause: Pause = .beforeReading) {
        self.inner = inner
        self.delay = delay
        self.pause = pause
    }

    func collect() -> Snapshot {
        counts.withLock { $0.started += 1 }
        if pause == .beforeReading { sleep() }
        let snapshot = inner.collect()
        counts.withLock { $0.read += 1 }
        if pause == .afterReading { sleep() }
        return snapshot
    }

    private func sleep() {
        if delay > 0 { usleep(useconds_t(delay * 1_000_000)) }
    }

    func markDead(pid: Int) throws(CollectorError) -> [String] { try inner.markDead(pid: pid) }
}

/// An ``ExporterServer`` on 127.0.0.1:0 running on its own thread.
final class TestServer: @unchecked Sendable {
    let server: ExporterServer
    let port: Int
    let log: LogCapture
    let fixture: FixtureDirectory
    let collector: DirectoryCollector
    private let finished = DispatchSemaphore(value: 0)

    /// Starts a server over a fresh fixture directory, without the workers collector;
    /// `configure` adjusts the configuration, `source` wraps the collector (e.g. in a ``SlowSource``).
    init(configure: (inout ExporterConfiguration) -> Void = { _ in },
         source: (DirectoryCollector) -> any MetricsSource = { $0 }) throws {
        fixture = try FixtureDirectory.make()
        collector = try DirectoryCollector(directory: fixture.path)
        var config = ExporterConfiguration()
        config.listenAddress = ListenAddress(host: "127.0.0.1", port: 0)
        config.directory = fixture.path
        config.limits.shutdownTimeout = 5
        // The fixture's pids are made up (any process may hold them): the workers collector,
        // on by default, is tested where it reads real processes (WorkerMetricsTests).
        config.workers = nil
        configure(&config)
        log = LogCapture()
        server = try ExporterServer(configuration: config, source: source(collector), logger: log.logger)
        port = try server.bind().port
        let server = server, finished = finished
        let thread = Thread { server.run(); finished.signal() }
        thread.start()
    }

    func get(_ path: String, headers: [(String, String)] = []) throws -> RawHTTPClient.Response {
        try RawHTTPClient.request(port: port, "GET", path, headers: headers)
    }

    func request(_ method: String, _ path: String, headers: [(String, String)] = []) throws -> RawHTTPClient.Response {
        try RawHTTPClient.request(port: port, method, path, headers: headers)
    }

    /// Graceful shutdown; true when ``ExporterServer/run()`` returned in time.
    @discardableResult
    func stop(timeout: Double = 10) -> Bool {
        server.shutdown()
        let done = finished.wait(timeout: .now() + timeout) == .success
        fixture.remove()
        return done
    }

    /// Runs `body` against a fresh server and always stops it.
    static func with(configure: (inout ExporterConfiguration) -> Void = { _ in },
                     source: (DirectoryCollector) -> any MetricsSource = { $0 },
                     _ body: (TestServer) throws -> Void) throws {
        let server = try TestServer(configure: configure, source: source)
        defer { server.stop() }
        try body(server)
    }
}
