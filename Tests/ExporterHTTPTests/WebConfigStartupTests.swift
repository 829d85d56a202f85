import ExporterHTTP
import Foundation
import TestSupport
import Testing

/// Problems in `--web.config.file` or the files it names stop `serve` at start: exit status 2 and
/// one line naming the problem.
@Suite("web config: start-up errors", .enabled(if: TLSFiles.toolsAvailable))
struct WebConfigStartupTests {
    /// (web.yml, extra files to create as (name, contents), expected text in the error).
    static let badFiles: [(String, [(String, String)], String)] = [
        ("tls_server_config:\n  cert_file: nothere.crt\n  key_file: server.key\n", [],
         "web config: tls_server_config.cert_file: cannot read "),
        ("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: nothere.pem\n", [],
         "tls_server_config.client_ca_file: cannot read "),
        ("tls_server_config:\n  cert_file: .\n  key_file: server.key\n", [], "Is a directory"),
        ("tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n", [("other.key", "server2.key")],
         "web config: tls_server_config.key_file: the private key does not match the certificate"),
        ("tls_server_config:\n  cert_file: junk.crt\n  key_file: server.key\n", [("junk.crt", "-")],
         "web config: tls_server_config.cert_file: no PEM certificate found"),
        ("tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n", [],
         "web config: tls_server_config.key_file: no unencrypted PEM private key found"),
        ("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: empty.pem\n",
         [("empty.pem", "-")], "web config: tls_server_config.client_ca_file: no PEM certificate found"),
        ("tls_server_config:\n  cert_filse: server.crt\n", [], "web config: tls_server_config.cert_filse (line 2): unknown key"),
        ("basic_auth_users:\n  alice: secret\n", [], "web config: basic_auth_users.alice (line 2): not a bcrypt hash"),
        ("http_server_config:\n  http2: true\n", [], "web config: http_server_config.http2 (line 2): not supported by multiproc-exporter"),
    ]

    @Test(arguments: badFiles)
    func badFileIsOneLineNamingTheProblem(yaml: String, extra: [(String, String)], message: String) throws {
        let fixture = try WebConfigFixture(yaml)
        defer { fixture.remove() }
        for (name, source) in extra {
            if source == "-" {
                try Data("not PEM at all\n".utf8).write(to: fixture.dir.appendingPathComponent(name))
            } else {
                try fixture.copy(TLSFiles.shared.path(source), as: name)
            }
        }
        do {
            try WebConfigLoader.validate(path: fixture.path)
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func encryptedKeysAreRefusedWithoutPrompting() throws {
        let fixture = try WebConfigFixture(WebConfigFixture.tls)
        defer { fixture.remove() }
        let encrypted = fixture.dir.appendingPathComponent("server.key").path
        let r = try ChildProcess.run("openssl", ["pkey", "-in", TLSFiles.shared.path("server.key"), "-aes256",
                                               "-passout", "pass:secret", "-out", encrypted])
        #expect(r.status == 0)
        #expect(throws: ConfigurationError.self) { try WebConfigLoader.validate(path: fixture.path) }
    }

    @Test func inlineCertificateAndKeyWork() throws {
        func indented(_ name: String) throws -> String {
            try String(contentsOfFile: TLSFiles.shared.path(name), encoding: .utf8).split(separator: "\n").map { "    \($0)" }.joined(separator: "\n")
        }
        let yaml = "tls_server_config:\n  cert: |\n\(try indented("server.crt"))\n  key: |\n\(try indented("server.key"))\n"
        try WebConfigFixture.with(yaml) { server, _ throws in
            #expect(try Curl.get(port: server.port, "/healthz").status == 200)
        }
    }

    @Test(.enabled(if: LifecycleTests.binary != nil))
    func serveExitsWithStatus2AndOneLine() throws {
        let fixture = try FixtureDirectory.make()
        defer { fixture.remove() }
        let web = try WebConfigFixture("tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n")
        defer { web.remove() }
        try web.copy(TLSFiles.shared.path("server2.key"), as: "other.key")
        for path in [web.path, "/nonexistent/web.yml"] {
            let text = try LifecycleTests.startupFailure(["--multiproc-dir", fixture.path, "--web.config.file", path])
            let lines = text.split(separator: "\n")
            #expect(lines.count == 1, "\(text)")
            #expect(lines.first?.contains(path == web.path ? "does not match the certificate" : "cannot read /nonexistent/web.yml") == true, "\(text)")
        }
    }
}

/// examples/web-config/web-config.yml as documented: with certificates in place it serves, and
/// its example password is the one its comment names.
@Suite("web config: the shipped example", .enabled(if: TLSFiles.toolsAvailable))
struct WebConfigExampleTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/web-config/web-config.yml")

    @Test func exampleServesWithItsDocumentedPassword() throws {
        let yaml = try String(contentsOf: Self.example, encoding: .utf8)
        let fixture = try WebConfigFixture(yaml, files: [])
        defer { fixture.remove() }
        try fixture.copy(TLSFiles.shared.path("server.crt"), as: "tls.crt")
        try fixture.copy(TLSFiles.shared.path("server.key"), as: "tls.key")
        try fixture.copy(TLSFiles.shared.path("ca.pem"), as: "client-ca.crt")
        let server = try fixture.server()
        defer { server.stop() }
        let client = (cert: TLSFiles.shared.path("client-dns.crt"), key: TLSFiles.shared.path("client-dns.key"))
        let ok = try Curl.get(port: server.port, "/metrics", user: "prometheus:changeme", cert: client.cert, key: client.key)
        #expect(ok.status == 200, "\(ok.stderr)")
        #expect(ok.headers["strict-transport-security"] == "max-age=31536000")
        #expect(try Curl.get(port: server.port, "/metrics", user: "prometheus:wrong", cert: client.cert, key: client.key).status == 401)
        // client_allowed_sans: a certificate from the right CA with another SAN is refused.
        let other = try Curl.get(port: server.port, "/metrics", user: "prometheus:changeme",
                                 cert: TLSFiles.shared.path("client-ip.crt"), key: TLSFiles.shared.path("client-ip.key"))
        #expect(other.status == 0 && other.exitCode != 0)
    }
}
