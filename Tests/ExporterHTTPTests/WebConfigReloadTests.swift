import ExporterHTTP
import Foundation
import TestSupport
import Testing

/// Edits to the web config file and to the certificates it names take effect without a restart;
/// broken edits keep the running config, and are logged and counted.
@Suite("web config: reload", .enabled(if: TLSFiles.toolsAvailable))
struct WebConfigReloadTests {
    static func users(_ password: String) throws -> String {
        "basic_auth_users:\n  alice: \(try #require(try TLSFiles.htpasswdHash(password)))\n"
    }

    static func reloads(_ server: TestServer, user: String, tls: Bool = true) throws -> (success: Int, failure: Int, lastOK: Int) {
        let body = try Curl.get(port: server.port, "/metrics", ca: tls ? TLSFiles.shared.path("ca.pem") : nil, user: user,
                                scheme: tls ? "https" : "http").body
        func value(_ name: String) -> Int {
            body.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }.map(Int.init) ?? -1
        }
        return (value("multiproc_exporter_web_config_reloads_total{result=\"success\"}"),
                value("multiproc_exporter_web_config_reloads_total{result=\"failure\"}"),
                value("multiproc_exporter_web_config_last_reload_successful"))
    }

    @Test func newPasswordTakesOverAndBrokenEditsKeepTheLastGoodConfig() throws {
        try WebConfigFixture.with(WebConfigFixture.tls + Self.users("old-password")) { server, fixture throws in
            #expect(try Curl.get(port: server.port, "/metrics", user: "alice:old-password").status == 200)
            #expect(try Self.reloads(server, user: "alice:old-password") == (0, 0, 1))

            try fixture.write(WebConfigFixture.tls + Self.users("new-password"))
            #expect(waitUntil { (try? Curl.get(port: server.port, "/metrics", user: "alice:new-password").status) == 200 })
            #expect(try Curl.get(port: server.port, "/metrics", user: "alice:old-password").status == 401)
            #expect(try Self.reloads(server, user: "alice:new-password") == (1, 0, 1))

            // Broken edits: bad YAML, a bad hash, an unknown key, a missing key file, TLS turned off.
            let broken = ["basic_auth_users: [", WebConfigFixture.tls + "basic_auth_users:\n  alice: plain\n",
                          WebConfigFixture.tls + "http_server_config:\n  http2: true\n",
                          "tls_server_config:\n  cert_file: server.crt\n  key_file: missing.key\n" + (try Self.users("x")),
                          try Self.users("no-tls")]
            for (index, yaml) in broken.enumerated() {
                try fixture.write(yaml)
                #expect(waitUntil { server.log.all.filter { $0.contains("web config reload failed") }.count == index + 1 }, "\(index)")
                #expect(try Curl.get(port: server.port, "/metrics", user: "alice:new-password").status == 200)
            }
            #expect(try Self.reloads(server, user: "alice:new-password") == (1, broken.count, 0))
            let failures = server.log.all.filter { $0.contains("web config reload failed") }
            #expect(failures.count == broken.count)  // once per edit, not once per poll
            #expect(failures[3].contains("missing.key"))
            #expect(failures[4].contains("turning TLS off needs a restart"))
            #expect(!server.log.all.joined().contains("$2y$05$"))  // no hash is ever logged

            // Fixing the file recovers.
            try fixture.write(WebConfigFixture.tls + Self.users("third"))
            #expect(waitUntil { (try? Curl.get(port: server.port, "/metrics", user: "alice:third").status) == 200 })
            #expect(try Self.reloads(server, user: "alice:third") == (2, broken.count, 1))
        }
    }

    /// exporter-toolkit reads the file for every request: a changed password, a removed user, a
    /// new header are in force for the very next request, not at the next poll (which these
    /// servers never reach: once an hour). Over plain HTTP and over TLS.
    @Test(arguments: [false, true])
    func editsApplyToTheVeryNextRequest(tls: Bool) throws {
        let prefix = tls ? WebConfigFixture.tls : ""
        func get(_ user: String) throws -> Int {
            try Curl.get(port: server.port, "/metrics", ca: tls ? TLSFiles.shared.path("ca.pem") : nil, user: user,
                         scheme: tls ? "https" : "http").status
        }
        var server: TestServer!
        try WebConfigFixture.with(prefix + Self.users("old-password"), configure: { $0.webConfigReloadInterval = 3600 }) { started, fixture throws in
            server = started
            #expect(try get("alice:old-password") == 200)

            // Replaced by rename (editors, Kubernetes): the next request already knows.
            try fixture.write(prefix + Self.users("new-password"))
            #expect(try get("alice:new-password") == 200)
            #expect(try get("alice:old-password") == 401)

            // Rewritten in place: same inode, same size (bcrypt hashes are all 60 bytes).
            try fixture.overwrite(prefix + Self.users("3rd-password"))
            #expect(try get("alice:3rd-password") == 200)
            #expect(try get("alice:new-password") == 401)

            // A user removed is refused at once; a broken edit keeps the last good config.
            let bob = prefix + "basic_auth_users:\n  bob: \(try #require(try TLSFiles.htpasswdHash("bob-password")))\n"
            try fixture.write(bob)
            #expect(try get("alice:3rd-password") == 401)
            #expect(try get("bob:bob-password") == 200)
            try fixture.write("basic_auth_users: [")
            for _ in 0..<3 { #expect(try get("bob:bob-password") == 200) }
            #expect(server.log.all.filter { $0.contains("web config reload failed") }.count == 1, "once per edit: \(server.log.all.filter { $0.contains("web config") })")
            var counts = try Self.reloads(server, user: "bob:bob-password", tls: tls)
            #expect(counts == (3, 1, 0), "\(counts)")
            // The good file back, byte for byte: the failure is over.
            try fixture.write(bob)
            counts = try Self.reloads(server, user: "bob:bob-password", tls: tls)
            #expect(counts == (4, 1, 1), "\(counts)")
        }
    }

    /// The first handshake after a certificate renewal presents the new certificate: the edit
    /// is seen (inotify) before the connection is accepted, and accepting waits for the reload.
    @Test func renewedCertificateIsServedToTheVeryNextHandshake() throws {
        try WebConfigFixture.with(WebConfigFixture.tls, configure: { $0.webConfigReloadInterval = 3600 }) { server, fixture throws in
            let otherCA = TLSFiles.shared.path("other-ca.pem")
            #expect(try Curl.get(port: server.port, "/healthz").status == 200)
            try fixture.copy(TLSFiles.shared.path("server2.key"), as: "server.key")
            try fixture.copy(TLSFiles.shared.path("server2.crt"), as: "server.crt")
            #expect(try Curl.get(port: server.port, "/healthz", ca: otherCA).status == 200)
            #expect(try Curl.get(port: server.port, "/healthz").status == 0)
        }
    }

    @Test func replacedCertificateIsServedToNewConnections() throws {
        try WebConfigFixture.with(WebConfigFixture.tls) { server, fixture throws in
            let otherCA = TLSFiles.shared.path("other-ca.pem")
            #expect(try Curl.get(port: server.port, "/healthz").status == 200)
            #expect(try Curl.get(port: server.port, "/healthz", ca: otherCA).status == 0)
            // A certificate renewal: new key and certificate, from another CA, same file names.
            try fixture.copy(TLSFiles.shared.path("server2.key"), as: "server.key")
            try fixture.copy(TLSFiles.shared.path("server2.crt"), as: "server.crt")
            #expect(waitUntil { (try? Curl.get(port: server.port, "/healthz", ca: otherCA).status) == 200 })
            #expect(try Curl.get(port: server.port, "/healthz").status == 0)
        }
    }

    @Test func mismatchedCertificateAndKeyMidRenewalKeepsServing() throws {
        try WebConfigFixture.with(WebConfigFixture.tls) { server, fixture throws in
            // Only the key is replaced first: the pair does not match, so the old pair stays.
            try fixture.copy(TLSFiles.shared.path("server2.key"), as: "server.key")
            #expect(waitUntil { server.log.all.contains { $0.contains("does not match the certificate") } })
            #expect(try Curl.get(port: server.port, "/healthz").status == 200)
            try fixture.copy(TLSFiles.shared.path("server2.crt"), as: "server.crt")
            #expect(waitUntil { (try? Curl.get(port: server.port, "/healthz", ca: TLSFiles.shared.path("other-ca.pem")).status) == 200 })
        }
    }
}
