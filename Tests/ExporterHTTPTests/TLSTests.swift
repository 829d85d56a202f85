@testable import ExporterHTTP
import Foundation
import TestSupport
import Testing

/// `tls_server_config` on real sockets, against real TLS clients (curl and `openssl s_client`).
@Suite("web config: TLS", .enabled(if: TLSFiles.toolsAvailable))
struct TLSTests {
    static let files = TLSFiles.shared

    /// A connection is refused when curl fails (handshake alert, reset) instead of getting a status.
    static func refused(_ r: Curl.Response) -> Bool { r.exitCode != 0 && r.status == 0 }

    @Test func servesOverTLSOnly() throws {
        try WebConfigFixture.with(WebConfigFixture.tls) { server, _ throws in
            let r = try Curl.get(port: server.port, "/metrics")
            #expect(r.status == 200, "\(r.stderr)")
            #expect(r.body.contains("jobs_total{kind=\"a\"} 7.0"))
            // A client that does not trust the issuer refuses the server.
            #expect(Self.refused(try Curl.get(port: server.port, "/healthz", ca: Self.files.path("other-ca.pem"))))
        }
    }

    @Test func plainHTTPToTheTLSPortGetsGosAnswer() throws {
        try WebConfigFixture.with(WebConfigFixture.tls) { server, _ throws in
            let r = try RawHTTPClient.request(port: server.port, "GET", "/metrics")
            #expect(r.status == 400)
            #expect(r.text == "Client sent an HTTP request to an HTTPS server.\n")
            #expect(try Curl.get(port: server.port, "/healthz").status == 200)  // the server is fine
        }
    }

    @Test func tls11IsRefusedByDefaultAndAcceptedWhenAllowed() throws {
        // The client lowers its own security level so that only the server can say no.
        let tls11 = ["--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0"]
        try WebConfigFixture.with(WebConfigFixture.tls) { server, _ throws in
            let r = try Curl.get(port: server.port, "/healthz", extra: tls11)
            #expect(Self.refused(r))
            #expect(r.stderr.contains("protocol version"), "\(r.stderr)")
            #expect(try Curl.get(port: server.port, "/healthz", extra: ["--tlsv1.2", "--tls-max", "1.2"]).status == 200)
            #expect(try Curl.get(port: server.port, "/healthz", extra: ["--tlsv1.3"]).status == 200)
        }
        try WebConfigFixture.with(WebConfigFixture.tls + "  min_version: TLS11\n") { server, _ throws in
            #expect(try Curl.get(port: server.port, "/healthz", extra: tls11).status == 200)
        }
        try WebConfigFixture.with(WebConfigFixture.tls + "  max_version: TLS12\n") { server, _ throws in
            #expect(Self.refused(try Curl.get(port: server.port, "/healthz", extra: ["--tlsv1.3"])))
            #expect(try Curl.get(port: server.port, "/healthz").status == 200)
        }
    }

    @Test func cipherSuitesLimitTLS12() throws {
        let yaml = WebConfigFixture.tls + "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n"
        try WebConfigFixture.with(yaml) { server, _ throws in
            #expect(Self.refused(try Curl.get(port: server.port, "/healthz", extra: ["--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"])))
            #expect(try Curl.get(port: server.port, "/healthz", extra: ["--ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"]).status == 200)
        }
        let all = GoCipherSuite.table.map(\.go).joined(separator: ", ")
        try WebConfigFixture.with(WebConfigFixture.tls + "  cipher_suites: [\(all)]\n") { server, _ throws in
            #expect(try Curl.get(port: server.port, "/healthz", extra: ["--tlsv1.2", "--tls-max", "1.2"]).status == 200)
            #expect(try Curl.get(port: server.port, "/healthz", extra: ["--tlsv1.3"]).status == 200)
        }
    }

    @Test func curvePreferencesLimitTheGroups() throws {
        try WebConfigFixture.with(WebConfigFixture.tls + "  curve_preferences: [CurveP384]\n") { server, _ throws in
            #expect(Self.refused(try Curl.get(port: server.port, "/healthz", extra: ["--curves", "X25519"])))
            #expect(try Curl.get(port: server.port, "/healthz", extra: ["--curves", "P-384"]).status == 200)
        }
    }

    @Test func preferServerCipherSuitesFollowsTheListOrder() throws {
        let suites = "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n"
        for (prefer, expected) in [("true", "ECDHE-ECDSA-AES256-GCM-SHA384"), ("false", "ECDHE-ECDSA-AES128-GCM-SHA256")] {
            try WebConfigFixture.with(WebConfigFixture.tls + suites + "  prefer_server_cipher_suites: \(prefer)\n") { server, _ throws in
                let r = try ChildProcess.run("openssl", ["s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_2",
                                                       "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
                                                       "-CAfile", Self.files.path("ca.pem")])
                #expect(r.stdout.contains("Cipher is \(expected)"), "prefer \(prefer): \(r.stdout.suffix(400))")
            }
        }
    }

    /// (client_auth_type, certificate sent, expected to pass).
    static let clientAuthCases: [(String, String?, Bool)] = [
        ("RequireAndVerifyClientCert", nil, false), ("RequireAndVerifyClientCert", "client-dns", true),
        ("RequireAndVerifyClientCert", "client-other-ca", false),
        ("VerifyClientCertIfGiven", nil, true), ("VerifyClientCertIfGiven", "client-dns", true),
        ("VerifyClientCertIfGiven", "client-other-ca", false),
        ("RequireAnyClientCert", nil, false), ("RequireAnyClientCert", "client-other-ca", true),
        ("RequestClientCert", nil, true), ("RequestClientCert", "client-other-ca", true),
    ]

    @Test(arguments: clientAuthCases)
    func clientCertificates(authType: String, certificate: String?, passes: Bool) throws {
        let yaml = WebConfigFixture.tls + "  client_auth_type: \(authType)\n  client_ca_file: ca.pem\n"
        try WebConfigFixture.with(yaml) { server, _ throws in
            let r = try Curl.get(port: server.port, "/healthz", cert: certificate.map { Self.files.path("\($0).crt") },
                                 key: certificate.map { Self.files.path("\($0).key") })
            if passes {
                #expect(r.status == 200, "\(authType) \(certificate ?? "none"): \(r.stderr)")
            } else {
                #expect(Self.refused(r), "\(authType) \(certificate ?? "none"): \(r.status)")
            }
        }
    }

    /// (allowed SANs, client certificate, expected to pass): each kind of SAN exporter-toolkit compares.
    static let sanCases: [([String], String, Bool)] = [
        (["prometheus.monitoring.svc"], "client-dns", true), (["10.1.2.3"], "client-ip", true),
        (["scraper@example.com"], "client-email", true), (["spiffe://cluster.local/ns/monitoring/sa/prometheus"], "client-uri", true),
        (["one", "10.1.2.3", "two"], "client-ip", true),
        (["prometheus"], "client-dns", false),  // the subject CN is not a SAN
        (["other.svc"], "client-dns", false), (["10.1.2.4"], "client-ip", false), ([], "client-dns", false),
    ]

    @Test(arguments: sanCases)
    func allowedSANs(sans: [String], certificate: String, passes: Bool) throws {
        let list = sans.map { "\"\($0)\"" }.joined(separator: ", ")
        let yaml = WebConfigFixture.tls + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: [\(list)]\n"
        try WebConfigFixture.with(yaml) { server, _ throws in
            let r = try Curl.get(port: server.port, "/healthz", cert: Self.files.path("\(certificate).crt"),
                                 key: Self.files.path("\(certificate).key"))
            #expect(passes ? r.status == 200 : Self.refused(r), "\(sans) \(certificate): \(r.status) \(r.stderr)")
        }
    }

    @Test func allowedSANsRefuseClientsWithoutACertificate() throws {
        let yaml = WebConfigFixture.tls + "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n  client_allowed_sans: [prometheus.monitoring.svc]\n"
        try WebConfigFixture.with(yaml) { server, _ throws in
            #expect(Self.refused(try Curl.get(port: server.port, "/healthz")))
            #expect(try Curl.get(port: server.port, "/healthz", cert: Self.files.path("client-dns.crt"),
                                 key: Self.files.path("client-dns.key")).status == 200)
        }
    }

    @Test func slowHandshakesDoNotBlockOthers() throws {
        try WebConfigFixture.with(WebConfigFixture.tls) { server, _ throws in
            // 30 clients stall mid-handshake: half a ClientHello record header, or nothing at all.
            var stalled: [Int32] = []
            defer { for fd in stalled { close(fd) } }
            for i in 0..<30 {
                let fd = try RawHTTPClient.connect(port: server.port)
                if i % 2 == 0 { _ = [UInt8]([0x16, 0x03, 0x01, 0x02]).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) } }
                stalled.append(fd)
            }
            let started = Date()
            let health = try Curl.get(port: server.port, "/healthz")
            let metrics = try Curl.get(port: server.port, "/metrics")
            #expect(health.status == 200 && metrics.status == 200)
            #expect(Date().timeIntervalSince(started) < 3)
        }
    }

    @Test(.enabled(if: LifecycleTests.binary != nil))
    func sigpipeDoesNotKillATLSServer() throws {
        // Found by the benchmark (wrk, Connection: close): OpenSSL writes with write(2), not
        // send(MSG_NOSIGNAL), so a close_notify or reply to a client that had gone raised SIGPIPE
        // and killed `serve`. The test process ignores SIGPIPE itself, so this runs the binary.
        let directory = try FixtureDirectory.make()
        defer { directory.remove() }
        let web = try WebConfigFixture(WebConfigFixture.tls)
        defer { web.remove() }
        let (process, port) = try LifecycleTests.launch(["--multiproc-dir", directory.path, "--web.config.file", web.path])
        let bound = try #require(port, "\(process.stderr)")
        process.send(SIGPIPE)
        usleep(200_000)
        #expect(process.isRunning)
        #expect(try Curl.get(port: bound, "/healthz").status == 200)
    }

    @Test func keepAliveServesManyRequestsOnOneConnection() throws {
        try WebConfigFixture.with(WebConfigFixture.tls) { server, _ throws in
            // curl reuses the connection for URLs given together; --write-out counts new connects.
            let url = "https://127.0.0.1:\(server.port)/metrics"
            let r = try ChildProcess.run("curl", ["-sS", "--cacert", Self.files.path("ca.pem"), "-o", "/dev/null", "-o", "/dev/null",
                                                "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\n", url, url, url])
            #expect(r.stdout == "200 1\n200 0\n200 0\n", "\(r.stdout) \(r.stderr)")
        }
    }
}
