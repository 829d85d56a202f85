import ExporterHTTP
import Foundation
import Testing

@Suite("POST /mark-dead/<pid>: validation, removal, access")
struct MarkDeadTests {
    @Test func removesOnlyLiveGaugeFilesAndIsIdempotent() throws {
        try TestServer.with { server in
            let first = try server.request("POST", "/mark-dead/101")
            #expect(first.status == 200)
            #expect(first.header("Content-Type") == "application/json")
            #expect(first.text == "{\"pid\":101,\"removed\":[\"gauge_livesum_101.db\"]}\n")
            #expect(server.fixture.files() == [
                "counter_101.db", "counter_102.db", "gauge_livesum_102.db", "histogram_101.db", "histogram_102.db",
            ])
            let again = try server.request("POST", "/mark-dead/101")
            #expect(again.status == 200)
            #expect(again.text == "{\"pid\":101,\"removed\":[]}\n")
            let metrics = try server.get("/metrics").text
            #expect(metrics.contains("inflight 2.0"))  // only pid 102's live gauge is left
            #expect(metrics.contains("multiproc_exporter_mark_dead_requests_total{result=\"removed\"} 1.0"))
            #expect(metrics.contains("multiproc_exporter_mark_dead_requests_total{result=\"none_found\"} 1.0"))
        }
    }

    static let badPids = [
        "-1", "0", "+5", "1e3", "..%2fx", "%2e%2e", "%31", "12345678", "99999999999999999999999", "4194305",
        "5x", "x5", " 5", "5 ", "05", "0x10", "1.0", "", "5/", "5/6", "١٢",
    ]

    @Test(arguments: badPids)
    func invalidPidIs400(pid: String) throws {
        try TestServer.with { server in
            let before = server.fixture.files()
            let path = "/mark-dead/" + pid.replacingOccurrences(of: " ", with: "%20")
            let r = try server.request("POST", path)
            #expect(r.status == 400, "\(path)")
            #expect(r.header("Content-Type") == "application/json")
            #expect(r.text.hasPrefix("{\"error\":\"") && r.text.contains("pid"))
            #expect(server.fixture.files() == before)
        }
    }

    @Test func dotDotPathIsRejectedNotNormalized() throws {
        try TestServer.with { server in
            let raw = "POST /mark-dead/../x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            let r = try RawHTTPClient.send(port: server.port, Array(raw.utf8))
            #expect(r.status == 400)
        }
    }

    @Test func largestPidIsAccepted() throws {
        try TestServer.with { server in
            let r = try server.request("POST", "/mark-dead/4194304")
            #expect(r.status == 200)
            #expect(r.text == "{\"pid\":4194304,\"removed\":[]}\n")
        }
    }

    @Test func nonLoopbackClientsAreForbiddenWithoutToken() throws {
        try TestServer.with(configure: { $0.trustsAdminPeer = { _ in false } }) { server in
            let r = try server.request("POST", "/mark-dead/101")
            #expect(r.status == 403)
            #expect(server.fixture.files().contains("gauge_livesum_101.db"))
            #expect(try server.get("/metrics").text.contains("mark_dead_requests_total{result=\"forbidden\"} 1.0"))
        }
    }

    @Test func loopbackPeerIsSeenAsLoopback() throws {
        let seen = LogCapture()  // reuse as a thread-safe box for the peer description
        try TestServer.with(configure: { $0.trustsAdminPeer = { peer in
            seen.logger.info("peer", metadata: ["host": "\(peer?.host ?? "nil")", "loopback": "\(peer?.isLoopback ?? false)"])
            return peer?.isLoopback ?? false
        } }) { server in
            let r = try server.request("POST", "/mark-dead/7")
            #expect(r.status == 200)
            #expect(seen.all.first?.contains("host=127.0.0.1 loopback=true") == true)
        }
    }

    @Test func tokenIsRequiredFromEveryClient() throws {
        let token = try AdminToken(fileContents: Array("s3cret-token\n".utf8))
        try TestServer.with(configure: { $0.adminToken = token }) { server in
            for headers in [[], [("Authorization", "Bearer wrong")], [("Authorization", "Bearer s3cret-toke")],
                            [("Authorization", "Bearer s3cret-token2")], [("Authorization", "Basic s3cret-token")],
                            [("Authorization", "Bearer")], [("Authorization", "s3cret-token")]] {
                let r = try server.request("POST", "/mark-dead/101", headers: headers)
                #expect(r.status == 401, "\(headers)")
                #expect(r.header("WWW-Authenticate") == "Bearer")
            }
            #expect(server.fixture.files().contains("gauge_livesum_101.db"))
            let ok = try server.request("POST", "/mark-dead/101", headers: [("Authorization", "bearer  s3cret-token ")])
            #expect(ok.status == 200)
            #expect(!server.fixture.files().contains("gauge_livesum_101.db"))
            #expect(!server.log.all.joined().contains("s3cret"))
            #expect(try server.get("/metrics").text.contains("mark_dead_requests_total{result=\"unauthorized\"} 7.0"))
        }
    }

    @Test func tokenAlsoAdmitsNonLoopbackClients() throws {
        let token = try AdminToken(fileContents: Array("t0k".utf8))
        try TestServer.with(configure: { $0.adminToken = token; $0.trustsAdminPeer = { _ in false } }) { server in
            let r = try server.request("POST", "/mark-dead/5", headers: [("Authorization", "Bearer t0k")])
            #expect(r.status == 200)
        }
    }

    @Test func disabledAdminRouteIs404() throws {
        try TestServer.with(configure: { $0.adminEnabled = false }) { server in
            #expect(try server.request("POST", "/mark-dead/101").status == 404)
            #expect(try server.request("GET", "/mark-dead/101").status == 404)
            #expect(server.fixture.files().contains("gauge_livesum_101.db"))
            let page = try server.get("/").text
            #expect(!page.contains("mark-dead"))
        }
    }
}
