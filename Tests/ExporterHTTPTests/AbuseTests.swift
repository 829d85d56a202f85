import Foundation
import Testing
import TestSupport

/// Abusive clients against the built `serve` binary (a process of its own, so its RSS can be
/// read from /proc): the server stays up, memory stays bounded and `/healthz` stays fast.
@Suite("HTTP abuse: malformed requests, huge headers and bodies, idle sockets, pipelining, early disconnects",
       .enabled(if: LifecycleTests.binary != nil))
struct AbuseTests {

    /// A `serve` process over a fixture directory with a wide counter (a ~0.6 MB /metrics body).
    final class Server {
        let process: ChildProcess
        let port: Int
        let fixture: FixtureDirectory

        init(extra: [String] = []) throws {
            fixture = try FixtureDirectory.make()
            let wide = (0..<20_000).map {
                MetricFileWriter.Entry(metric: "wide", sample: "wide_total", labels: ["series": "s\($0)"], help: "Wide.", value: 1)
            }
            try MetricFileWriter.write(wide, to: fixture.url, name: "counter_103.db")
            let (process, port) = try LifecycleTests.launch(["--multiproc-dir", fixture.path, "--web.connection-timeout", "60s"] + extra)
            guard let port else { throw RawHTTPClient.Failure(description: "serve did not start: \(process.stderr)") }
            self.process = process
            self.port = port
        }

        deinit {
            process.send(SIGKILL)
            process.wait()
            fixture.remove()
        }

        /// VmRSS in KiB.
        var rssKiB: Int { process.statusKiB("VmRSS") ?? -1 }

        var isRunning: Bool { process.isRunning }

        /// Seconds one `/healthz` takes.
        func healthz() throws -> Double {
            let started = Date()
            let r = try RawHTTPClient.request(port: port, "GET", "/healthz", timeout: 5)
            #expect(r.status == 200)
            return Date().timeIntervalSince(started)
        }

        /// Median and slowest of `count` `/healthz` calls.
        func healthzTimes(_ count: Int = 21) throws -> (median: Double, max: Double) {
            var times: [Double] = []
            for _ in 0..<count { times.append(try healthz()) }
            times.sort()
            return (times[count / 2], times[count - 1])
        }
    }

    /// Under ASan/TSan (make sanitize) freed memory sits in quarantine: RSS bounds do not apply.
    static let checksRSS = ProcessInfo.processInfo.environment["ASAN_OPTIONS"] == nil
        && ProcessInfo.processInfo.environment["TSAN_OPTIONS"] == nil

    /// Raises the soft descriptor limit of this process to `wanted` (bounded by the hard limit).
    static func raiseDescriptorLimit(to wanted: Int) -> Int {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < rlim_t(wanted) {
            limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(limit.rlim_cur)
    }

    static func send(_ fd: Int32, _ text: String) {
        _ = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    @Test(arguments: [
        "GET\r\n\r\n", "GET /healthz\r\n\r\n", "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", "\r\n\r\n\r\n",
        "GET /healthz HTTP/1.1\nHost: x\n\n", "GET /healthz HTTP/1.1\r\nNoColonHere\r\n\r\n",
        "GET /he\u{0}althz HTTP/1.1\r\nHost: x\r\n\r\n", "GET \u{7f}\u{1b}[2J HTTP/1.1\r\n\r\n",
        "POST /mark-dead/1 HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        "POST /mark-dead/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST /mark-dead/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /" + String(repeating: "a", count: 20_000) + " HTTP/1.1\r\nHost: x\r\n\r\n",
    ])
    func malformedRequestsLeaveTheServerUp(_ request: String) throws {
        let server = try Server()
        if let fd = try? RawHTTPClient.connect(port: server.port, timeout: 2) {
            Self.send(fd, request)
            var chunk = [UInt8](repeating: 0, count: 4096)
            _ = recv(fd, &chunk, chunk.count, 0)  // an error status or a close; either is fine
            close(fd)
        }
        #expect(server.isRunning)
        #expect(try server.healthz() < 0.5)
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/metrics").status == 200)
    }

    @Test func hugeHeadersAndBodiesAreRefusedWithoutGrowingMemory() throws {
        let server = try Server()
        _ = try RawHTTPClient.request(port: server.port, "GET", "/metrics")
        let before = server.rssKiB
        for round in 0..<20 {
            // One 1 MiB header, then 2000 small ones: refused once past 8 KiB.
            let fd = try RawHTTPClient.connect(port: server.port, timeout: 5)
            Self.send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
            if round % 2 == 0 {
                Self.send(fd, "X-Big: " + String(repeating: "a", count: 1 << 20) + "\r\n\r\n")
            } else {
                for i in 0..<2000 { Self.send(fd, "X-H\(i): v\r\n") }
                Self.send(fd, "\r\n")
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n > 0 { #expect(String(decoding: chunk[0..<n], as: UTF8.self).hasPrefix("HTTP/1.1 4")) }
            close(fd)
            // A 64 MiB body announced and streamed to mark-dead: 413 long before it is sent.
            let body = try RawHTTPClient.connect(port: server.port, timeout: 5)
            Self.send(body, "POST /mark-dead/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 67108864\r\n\r\n")
            let block = String(repeating: "b", count: 65536)
            for _ in 0..<64 { Self.send(body, block) }
            let m = recv(body, &chunk, chunk.count, 0)
            if m > 0 { #expect(String(decoding: chunk[0..<m], as: UTF8.self).hasPrefix("HTTP/1.1 413")) }
            close(body)
        }
        #expect(server.isRunning)
        let times = try server.healthzTimes()
        #expect(times.median < 0.05, "median /healthz \(times.median) s")
        let after = server.rssKiB
        #expect(!Self.checksRSS || after - before < 32 * 1024, "RSS \(before) KiB -> \(after) KiB")
        #expect(server.fixture.files().contains("gauge_livesum_101.db"), "no body reached mark-dead")
    }

    /// Slowloris: 600 sockets opened and left idle (half of them dribbling a request head a
    /// few bytes at a time) while /healthz and /metrics must still answer at once.
    @Test func manyIdleAndDribblingConnections() throws {
        let limit = Self.raiseDescriptorLimit(to: 4096)
        #expect(limit >= 1024, "soft RLIMIT_NOFILE is \(limit)")
        let server = try Server()
        _ = try RawHTTPClient.request(port: server.port, "GET", "/metrics")
        let before = server.rssKiB
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        for _ in 0..<600 { sockets.append(try RawHTTPClient.connect(port: server.port, timeout: 5)) }
        let head = Array("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8)
        for step in 0..<8 {
            for (i, fd) in sockets.enumerated() where i % 2 == 0 {
                let part = head[min(head.count, step * 6)..<min(head.count, step * 6 + 6)]
                if !part.isEmpty { _ = Array(part).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
            }
            let times = try server.healthzTimes(5)
            #expect(times.max < 0.5, "step \(step): slowest /healthz \(times.max) s")
        }
        let times = try server.healthzTimes()
        #expect(times.median < 0.05, "median /healthz with 600 idle sockets: \(times.median) s")
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/metrics").status == 200)
        #expect(server.isRunning)
        let after = server.rssKiB
        #expect(!Self.checksRSS || after - before < 64 * 1024, "RSS \(before) KiB -> \(after) KiB with 600 sockets")
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let server = try Server()
        let fd = try RawHTTPClient.connect(port: server.port, timeout: 10)
        defer { close(fd) }
        let paths = (0..<60).map { ["/healthz", "/", "/nope", "/metrics"][$0 % 4] }
        var batch = paths.map { "GET \($0) HTTP/1.1\r\nHost: x\r\n\r\n" }.joined()
        batch += "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        Self.send(fd, batch)
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            data += chunk[0..<n]
        }
        // Status lines in order: 200 200 404 200 ..., then the closing 200.
        let text = String(decoding: data, as: UTF8.self)
        let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
        let expected = paths.map { $0 == "/nope" ? "404" : "200" } + ["200"]
        #expect(statuses.count == expected.count && zip(statuses, expected).allSatisfy { $0 == $1 }, "\(statuses.prefix(8))")
        #expect(server.isRunning)
    }

    /// 200 clients ask for the ~0.6 MB /metrics body and leave after its first bytes.
    @Test func clientsDisconnectingMidReply() throws {
        let server = try Server()
        _ = try RawHTTPClient.request(port: server.port, "GET", "/metrics")
        let before = server.rssKiB
        for i in 0..<200 {
            let fd = try RawHTTPClient.connect(port: server.port, timeout: 5)
            var size: Int32 = 4096
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            Self.send(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            var chunk = [UInt8](repeating: 0, count: 1024)
            _ = recv(fd, &chunk, chunk.count, 0)
            if i % 2 == 0 {
                var hard = linger(l_onoff: 1, l_linger: 0)  // RST instead of FIN
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, socklen_t(MemoryLayout<linger>.size))
            }
            close(fd)
        }
        #expect(server.isRunning)
        let times = try server.healthzTimes()
        #expect(times.median < 0.05, "median /healthz \(times.median) s")
        let r = try RawHTTPClient.request(port: server.port, "GET", "/metrics")
        #expect(r.status == 200 && r.body.count > 500_000)
        let after = server.rssKiB
        #expect(!Self.checksRSS || after - before < 64 * 1024, "RSS \(before) KiB -> \(after) KiB after 200 abandoned replies")
    }
}
