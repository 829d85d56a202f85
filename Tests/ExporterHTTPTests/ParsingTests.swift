@testable import ExporterHTTP
import Foundation
import Logging
import Testing

@Suite("Flag and header parsing")
struct ParsingTests {
    @Test(arguments: [
        ("gzip", true), ("x-gzip", true), ("*", true), ("GZip;q=0.001", true), ("deflate, gzip", true),
        ("gzip;q=0", false), ("gzip; q=0.000", false), ("*;q=0", false), ("gzip;q=0, *;q=1", false),
        ("*;q=0, gzip", true), ("identity", false), ("", false), ("gzip;q=2", false), ("gzip;q=1.5", false),
        ("gzip ; q=1.000", true), ("br, deflate", false),
    ])
    func acceptEncoding(header: String, gzip: Bool) {
        #expect(AcceptEncoding.allowsGzip(header) == gzip)
    }

    @Test func noAcceptEncodingMeansNoGzip() { #expect(!AcceptEncoding.allowsGzip(nil)) }

    @Test(arguments: [
        (":8987", nil, 8987), ("127.0.0.1:0", "127.0.0.1", 0), ("[::1]:9000", "::1", 9000),
        ("localhost:80", "localhost", 80), ("0.0.0.0:65535", "0.0.0.0", 65535),
    ] as [(String, String?, Int)])
    func listenAddress(text: String, host: String?, port: Int) throws {
        let address = try ListenAddress(parsing: text)
        #expect(address.host == host)
        #expect(address.port == port)
    }

    @Test(arguments: ["8987", "::1:80", "[::1]", "[::1]80", ":65536", ":-1", ":", "host:", "[]:80", ":8a"])
    func badListenAddress(text: String) {
        #expect(throws: ConfigurationError.self) { try ListenAddress(parsing: text) }
    }

    @Test(arguments: [("0", 0.0), ("0s", 0), ("500ms", 0.5), ("2s", 2), ("1.5s", 1.5), ("1m", 60), ("1h30m", 5400), ("250us", 0.00025)])
    func duration(text: String, seconds: Double) throws {
        #expect(abs(try DurationParser.seconds(text) - seconds) < 1e-12)
    }

    @Test(arguments: ["", "5", "s", "1x", "-1s", "1 s"])
    func badDuration(text: String) {
        #expect(throws: ConfigurationError.self) { try DurationParser.seconds(text) }
    }

    @Test func pidParser() throws {
        #expect(try PidParser.parse("1").get() == 1)
        #expect(try PidParser.parse("4194304").get() == 4_194_304)
        for bad in ["0", "4194305", "-1", "+1", "01", "1e3", "", "１"] {
            #expect(throws: PidParser.PidError.self) { try PidParser.parse(Substring(bad)).get() }
        }
    }

    @Test func adminTokenFile() throws {
        #expect(try AdminToken(fileContents: Array("abc\r\n".utf8)).matches(Array("abc".utf8)))
        #expect(try AdminToken(fileContents: Array("abc".utf8)).matches(Array("abc".utf8)))
        #expect(try !AdminToken(fileContents: Array("abc".utf8)).matches(Array("abcd".utf8)))
        #expect(try !AdminToken(fileContents: Array("abc".utf8)).matches([]))
        #expect(throws: ConfigurationError.self) { try AdminToken(fileContents: Array("\n".utf8)) }
        #expect(throws: ConfigurationError.self) { try AdminToken(fileContents: []) }
        #expect(throws: ConfigurationError.self) { try AdminToken(fileContents: Array("a b".utf8)) }
        #expect(throws: ConfigurationError.self) { try AdminToken.load(path: "/nonexistent/token") }
        #expect("\(try AdminToken(fileContents: Array("secret".utf8)))" == "<redacted>")
    }

    @Test func configurationValidation() {
        var config = ExporterConfiguration()
        for path in ["metrics", "/healthz", "/mark-dead/x", "/a b"] {
            config.telemetryPath = path
            #expect(throws: ConfigurationError.self) { try config.validate() }
        }
        config.telemetryPath = "/metrics"
        config.gzipLevel = 10
        #expect(throws: ConfigurationError.self) { try config.validate() }
    }
}

@Suite("Log handlers")
struct LogHandlerTests {
    final class Lines: @unchecked Sendable {
        var lines: [String] = []  // only appended from the test's own thread
    }

    @Test func logfmtLine() {
        let box = Lines()
        var logger = Logger(label: "t") { _ in LineLogHandler(format: .logfmt, level: .info) { box.lines.append($0) } }
        logger[metadataKey: "component"] = "http"
        logger.info("listening", metadata: ["address": "127.0.0.1:8987"])
        logger.warning("odd file", metadata: ["detail": "has \"quotes\" and spaces", "empty": ""])
        logger.debug("hidden")
        #expect(box.lines.count == 2)
        let first = box.lines[0]
        #expect(first.hasPrefix("ts="))
        #expect(first.hasSuffix(" level=info msg=listening address=127.0.0.1:8987 component=http\n"))
        #expect(box.lines[1].contains("level=warn msg=\"odd file\" component=http detail=\"has \\\"quotes\\\" and spaces\" empty=\"\""))
    }

    @Test func jsonLine() throws {
        let box = Lines()
        let logger = Logger(label: "t") { _ in LineLogHandler(format: .json, level: .debug) { box.lines.append($0) } }
        logger.error("bad \"thing\"\n", metadata: ["n": "3", "list": ["a", "b"]])
        let object = try JSONSerialization.jsonObject(with: Data(box.lines[0].utf8)) as? [String: Any]
        #expect(object?["level"] as? String == "error")
        #expect(object?["msg"] as? String == "bad \"thing\"\n")
        #expect(object?["n"] as? String == "3")
        #expect(object?["list"] as? [String] == ["a", "b"])
        #expect((object?["ts"] as? String)?.hasSuffix("Z") == true)
        #expect(box.lines[0].hasSuffix("}\n"))
    }
}

@Suite("Peer addresses: which clients count as loopback")
struct PeerAddressTests {
    static func v4(_ text: String) -> PeerAddress? {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = UInt16(1234).bigEndian
        inet_pton(AF_INET, text, &sin.sin_addr)
        return withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { PeerAddress($0) } }
    }

    static func v6(_ text: String) -> PeerAddress? {
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = UInt16(1234).bigEndian
        inet_pton(AF_INET6, text, &sin6.sin6_addr)
        return withUnsafePointer(to: &sin6) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { PeerAddress($0) } }
    }

    @Test(arguments: [("127.0.0.1", true), ("127.255.0.9", true), ("10.0.0.1", false), ("128.0.0.1", false), ("0.0.0.0", false)])
    func ipv4(host: String, loopback: Bool) throws {
        let peer = try #require(Self.v4(host))
        #expect(peer.isLoopback == loopback)
        #expect(peer.description == "\(host):1234")
    }

    @Test(arguments: [("::1", true), ("::ffff:127.0.0.1", true), ("::ffff:127.1.2.3", true), ("::ffff:10.0.0.1", false),
                      ("::2", false), ("fe80::1", false), ("::", false), ("2001:db8::1", false)])
    func ipv6(host: String, loopback: Bool) throws {
        let peer = try #require(Self.v6(host))
        #expect(peer.isLoopback == loopback)
        #expect(peer.description == "[\(host)]:1234")
    }
}
