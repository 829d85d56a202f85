import ExporterHTTP
import Foundation
import Testing

@Suite("Routes, status codes and headers over real sockets")
struct RoutesTests {
    @Test func healthzAnswersOk() throws {
        try TestServer.with { server in
            let r = try server.get("/healthz")
            #expect(r.status == 200)
            #expect(r.text == "ok\n")
            #expect(r.header("Content-Type") == "text/plain; charset=utf-8")
            #expect(r.header("Content-Length") == "3")
        }
    }

    @Test func headHasGetLengthAndNoBody() throws {
        try TestServer.with { server in
            for path in ["/healthz", "/", "/metrics"] {
                let get = try server.get(path)
                let head = try server.request("HEAD", path)
                #expect(head.status == 200)
                #expect(head.body.isEmpty)
                #expect(head.header("Content-Type") == get.header("Content-Type"))
                if path != "/metrics" {  // process_* values move between two scrapes
                    #expect(head.header("Content-Length") == String(get.body.count))
                } else {
                    #expect(Int(head.header("Content-Length") ?? "") ?? 0 > 0)
                }
            }
        }
    }

    @Test func landingPageLinksAndEscapesDirectory() throws {
        try TestServer.with(configure: { $0.directory = "/tmp/<script>&\"x\"" }) { server in
            let r = try server.get("/")
            #expect(r.status == 200)
            #expect(r.header("Content-Type") == "text/html; charset=utf-8")
            #expect(r.text.contains("<a href=\"/metrics\">"))
            #expect(r.text.contains("<a href=\"/healthz\">"))
            #expect(r.text.contains(ExporterVersion.current))
            #expect(r.text.contains("/tmp/&lt;script&gt;&amp;&quot;x&quot;"))
            #expect(!r.text.contains("<script>"))
        }
    }

    @Test func unknownPathsAre404() throws {
        try TestServer.with { server in
            for path in ["/nope", "/metrics/", "/metricsx", "/healthz/x", "/mark-dead", "//metrics"] {
                do { let response = try server.get(path); #expect(response.status == 404, "\(path)") }
            }
            do { let response = try server.request("POST", "/nope"); #expect(response.status == 404) }
        }
    }

    @Test(arguments: [
        ("POST", "/metrics", "GET, HEAD"), ("PUT", "/metrics", "GET, HEAD"), ("DELETE", "/metrics", "GET, HEAD"),
        ("OPTIONS", "/metrics", "GET, HEAD"), ("PATCH", "/metrics", "GET, HEAD"), ("POST", "/healthz", "GET, HEAD"),
        ("DELETE", "/", "GET, HEAD"), ("GET", "/mark-dead/5", "POST"), ("HEAD", "/mark-dead/5", "POST"),
        ("PUT", "/mark-dead/5", "POST"),
    ])
    func wrongMethodIs405WithAllow(method: String, path: String, allow: String) throws {
        try TestServer.with { server in
            let r = try server.request(method, path)
            #expect(r.status == 405)
            #expect(r.header("Allow") == allow)
        }
    }

    @Test func customTelemetryPath() throws {
        try TestServer.with(configure: { $0.telemetryPath = "/prom" }) { server in
            do { let response = try server.get("/prom"); #expect(response.status == 200) }
            do { let response = try server.get("/metrics"); #expect(response.status == 404) }
            #expect(try server.get("/").text.contains("<a href=\"/prom\">"))
        }
    }

    @Test func malformedRequestsGetLibeventErrors() throws {
        try TestServer.with(configure: { $0.limits.maxHeaderBytes = 1024; $0.limits.maxBodyBytes = 16 }) { server in
            let garbage = try RawHTTPClient.send(port: server.port, Array("GARBAGE\r\n\r\n".utf8))
            #expect(garbage.status == 400)
            let bigHeader = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 4096))\r\n\r\n"
            do { let response = try RawHTTPClient.send(port: server.port, Array(bigHeader.utf8)); #expect(response.status == 400) }
            let bigBody = "POST /mark-dead/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n\(String(repeating: "a", count: 100))"
            do { let response = try RawHTTPClient.send(port: server.port, Array(bigBody.utf8)); #expect(response.status == 413) }
            let unknownMethod = "BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            do { let response = try RawHTTPClient.send(port: server.port, Array(unknownMethod.utf8)); #expect(response.status == 501) }
            // The server still answers afterwards.
            do { let response = try server.get("/healthz"); #expect(response.status == 200) }
        }
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() throws {
        try TestServer.with { server in
            let fd = try RawHTTPClient.connect(port: server.port)
            defer { close(fd) }
            let two = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            _ = two.withCString { send(fd, $0, strlen($0), 0) }
            var data = [UInt8]()
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(fd, &chunk, chunk.count, 0)
                if n <= 0 { break }
                data += chunk[0..<n]
            }
            #expect(String(decoding: data, as: UTF8.self).components(separatedBy: "HTTP/1.1 200 OK").count == 3)
        }
    }
}
