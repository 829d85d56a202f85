@testable import ExporterHTTP
import Testing

/// The YAML schema of exporter-toolkit's `docs/web-configuration.md`, read strictly.
@Suite("web config: parsing the exporter-toolkit schema")
struct WebConfigParserTests {
    static let hash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"

    func parse(_ yaml: String, directory: String = "/etc/exporter") throws(ConfigurationError) -> WebConfig {
        try WebConfigParser.parse(yaml, directory: directory)
    }

    func error(_ yaml: String) -> String {
        do {
            _ = try parse(yaml)
            return "no error"
        } catch {
            return error.description
        }
    }

    @Test func emptyFileMeansNothingIsOn() throws {
        for yaml in ["", "\n", "# only a comment\n", "---\n", "tls_server_config:\nbasic_auth_users:\nhttp_server_config:\n"] {
            let config = try parse(yaml)
            #expect(config == WebConfig(), "\(yaml)")
        }
    }

    @Test func fullConfigIsTyped() throws {
        let config = try parse("""
            tls_server_config:
              cert_file: server.crt
              key_file: /abs/server.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: ca/clients.pem
              client_allowed_sans: [prometheus.monitoring.svc, "10.0.0.1"]
              min_version: TLS13
              cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
              curve_preferences: [X25519, CurveP256]
              prefer_server_cipher_suites: no
            http_server_config:
              http2: false
              headers:
                X-Frame-Options: sameorigin
                Strict-Transport-Security: max-age=31536000
                Content-Security-Policy: ""
            basic_auth_users:
              alice: \(Self.hash)
              "bob smith": $2b$04$abcdefghijklmnopqrstuuDvLqL9W.dcZ1iJx1Y1H3EG8yWvIp7.y
            rate_limit: {interval: 500ms, burst: 3}
            """)
        let tls = try #require(config.tls)
        #expect(tls.certificate == .file("/etc/exporter/server.crt"))
        #expect(tls.key == .file("/abs/server.key"))
        #expect(tls.clientCA == .file("/etc/exporter/ca/clients.pem"))
        #expect(tls.clientAuth == .requireAndVerifyClientCert)
        #expect(tls.clientAllowedSANs == ["prometheus.monitoring.svc", "10.0.0.1"])
        #expect(tls.minVersion == .tls13 && tls.maxVersion == .tls13)
        #expect(tls.cipherSuites.map(\.name) == ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"])
        #expect(tls.cipherSuites.map(\.openSSLName) == ["ECDHE-RSA-AES128-GCM-SHA256", nil])
        #expect(tls.curvePreferences == [.x25519, .p256])
        #expect(tls.preferServerCipherSuites == false)
        #expect(config.headers == [.init(name: "X-Frame-Options", value: "sameorigin"),
                                   .init(name: "Strict-Transport-Security", value: "max-age=31536000")])
        #expect(config.users.keys.sorted() == ["alice", "bob smith"])
        #expect(config.users["alice"]?.cost == 10)
        #expect(config.rateLimit == .init(interval: 0.5, burst: 3))
    }

    @Test func defaultsAreExporterToolkits() throws {
        let tls = try #require(try parse("tls_server_config:\n  cert: |\n    PEM\n  key_file: k\n").tls)
        #expect(tls.certificate == .inline("PEM\n"))
        #expect(tls.clientAuth == .noClientCert && tls.clientCA == nil && tls.clientAllowedSANs == nil)
        #expect(tls.minVersion == .tls12 && tls.maxVersion == .tls13)
        #expect(tls.cipherSuites.isEmpty && tls.curvePreferences.isEmpty && tls.preferServerCipherSuites)
    }

    @Test func onlyCertificateKeysTurnTLSOn() throws {
        // exporter-toolkit's IsEnabled: versions or ciphers alone leave TLS off.
        #expect(try parse("tls_server_config:\n  min_version: TLS13\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n").tls == nil)
        #expect(try parse("tls_server_config:\n  cert_file: \"\"\n").tls == nil)
        #expect(error("tls_server_config:\n  client_auth_type: RequestClientCert\n").contains("missing one of cert or cert_file"))
    }

    @Test func oldRequireClientCertNameStillWorks() throws {
        let tls = try parse("tls_server_config: {cert_file: c, key_file: k, client_auth_type: RequireClientCert}").tls
        #expect(tls?.clientAuth == .requireAnyClientCert)
    }

    @Test func inlineAndFileBothSetUsesTheFileWithANote() throws {
        let config = try parse("tls_server_config: {cert_file: c, cert: x, key_file: k}")
        #expect(config.tls?.certificate == .file("/etc/exporter/c"))
        #expect(config.notes.contains { $0.contains("cert_file is used") })
    }

    @Test func relativePathsWithoutAFolderStayRelative() throws {
        #expect(try parse("tls_server_config: {cert_file: c, key_file: k}", directory: "").tls?.certificate == .file("c"))
    }

    @Test func yaml11BooleansAsGoYAMLv2() throws {
        for (text, value) in [("y", true), ("On", true), ("TRUE", true), ("n", false), ("off", false), ("No", false)] {
            let tls = try parse("tls_server_config: {cert_file: c, key_file: k, prefer_server_cipher_suites: \(text)}").tls
            #expect(tls?.preferServerCipherSuites == value, "\(text)")
        }
        #expect(error("tls_server_config: {prefer_server_cipher_suites: \"true\"}").contains("must be true or false"))
        #expect(error("tls_server_config: {prefer_server_cipher_suites: maybe}").contains("must be true or false"))
    }

    @Test func rateLimitIntervals() throws {
        #expect(try parse("rate_limit: {interval: 1s}").rateLimit == .init(interval: 1, burst: 0))
        #expect(try parse("rate_limit: {interval: 1500000000, burst: 2}").rateLimit == .init(interval: 1.5, burst: 2))
        #expect(try parse("rate_limit: {interval: 0s, burst: 2}").rateLimit == nil)
        #expect(try parse("rate_limit: {interval: -1s}").rateLimit == nil)
        #expect(error("rate_limit: {interval: soon}").hasPrefix("web config: rate_limit.interval (line 1): invalid duration"))
        #expect(error("rate_limit: {burst: many}").contains("rate_limit.burst (line 1): must be an integer"))
    }

    static let refusals: [(yaml: String, message: String)] = [
        ("not_a_key: 1", "web config: not_a_key (line 1): unknown key"),
        ("tls_server_config:\n  cert_filse: server.crt", "web config: tls_server_config.cert_filse (line 2): unknown key"),
        ("http_server_config:\n  http2: true", "web config: http_server_config.http2 (line 2): not supported by multiproc-exporter"),
        ("http_server_config: {headers: {X-Powered-By: me}}", "HTTP header \"X-Powered-By\" can not be configured"),
        ("http_server_config: {headers: {x-frame-options: deny}}", "HTTP header \"x-frame-options\" can not be configured"),
        ("http_server_config: {headers: {X-Frame-Options: allow}}", "invalid value for X-Frame-Options: expected one of deny, sameorigin"),
        ("http_server_config: {headers: {X-Content-Type-Options: sniff}}", "invalid value for X-Content-Type-Options"),
        ("rate_limit: {interval: 1s, bucket: 2}", "web config: rate_limit.bucket (line 1): unknown key"),
        ("basic_auth_users:\n  john: doe", "web config: basic_auth_users.john (line 2): not a bcrypt hash"),
        ("basic_auth_users:\n  john: $1$saltsalt$abcdefghijklmnopqrstuv", "basic_auth_users.john (line 2): not a bcrypt hash"),
        ("basic_auth_users:\n  john: $2x$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi", "not a bcrypt hash"),
        ("basic_auth_users:\n  john: $2y$03$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi", "not a bcrypt hash"),
        ("basic_auth_users:\n  john: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeS", "not a bcrypt hash"),
        ("basic_auth_users:\n  john: [a]", "basic_auth_users.john (line 2): must be a string, not a list"),
        ("basic_auth_users: [john]", "web config: basic_auth_users (line 1): must be a mapping"),
        ("hWkNKCp3fvIx3jKnsaBI\nTuEjdwNS8A2vYdFbiKqr\n", "web config: the file (line 1): must be a mapping of keys to values, not a scalar"),
        ("tls_server_config: {cert_file: a, cert_file: b}", "web config: tls_server_config.cert_file (line 1): appears twice"),
        ("tls_server_config: [", "web config: not valid YAML"),
        ("a: 1\n---\nb: 2\n", "web config: not valid YAML"),
        ("tls_server_config: {key_file: k}", "web config: tls_server_config: missing one of cert or cert_file"),
        ("tls_server_config: {cert_file: c}", "web config: tls_server_config: missing one of key or key_file"),
        ("tls_server_config: {cert: \"\", key_file: k}", "missing one of cert or cert_file"),
        ("tls_server_config: {cert_file: c, key_file: k, client_ca_file: ca}", "client CA's have been configured without a Client Auth Policy"),
        ("tls_server_config: {cert_file: c, key_file: k, client_auth_type: Sometimes}", "tls_server_config.client_auth_type (line 1): invalid ClientAuth \"Sometimes\""),
        ("tls_server_config: {min_version: TLS111}", "tls_server_config.min_version (line 1): unknown TLS version \"TLS111\""),
        ("tls_server_config: {max_version: SSL30}", "unknown TLS version \"SSL30\""),
        ("tls_server_config: {cert_file: c, key_file: k, min_version: TLS13, max_version: TLS12}", "TLS13 is above max_version TLS12"),
        ("tls_server_config: {cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]}", "tls_server_config.cipher_suites[0] (line 1): unknown cipher"),
        ("tls_server_config: {cipher_suites: [TLS_INVENTED_CIPHER]}", "unknown cipher \"TLS_INVENTED_CIPHER\""),
        ("tls_server_config: {curve_preferences: [CurveP256, CurveInvented]}", "tls_server_config.curve_preferences[1] (line 1): unknown curve"),
        ("tls_server_config: {cipher_suites: TLS_AES_128_GCM_SHA256}", "tls_server_config.cipher_suites (line 1): must be a list"),
        ("tls_server_config: {cert_file: {path: c}}", "tls_server_config.cert_file (line 1): must be a string, not a mapping"),
        ("tls_server_config: 7", "web config: tls_server_config (line 1): must be a mapping"),
        // Found by fuzz-web-config: a quoted key with line breaks must not break the line.
        ("tls_server_config:\n  \"key_f\\n\\nb\": 1\n", "web config: tls_server_config.key_f??b (line 2): unknown key"),
    ]

    @Test(arguments: refusals)
    func refusedWithOneLineNamingTheKey(yaml: String, message: String) {
        let text = error(yaml)
        #expect(text.contains(message), "\(yaml) -> \(text)")
        #expect(!text.contains("\n"), "\(text)")
        #expect(text.hasPrefix("web config: "))
    }

    @Test func deepNestingIsRefusedBeforeTheComposerRecurses() throws {
        // Found by fuzz-web-config: 1,741 `{` overflowed the YAML composer's stack.
        for deep in [String(repeating: "{", count: 100_000), String(repeating: "- ", count: 100_000) + "x",
                     "[a'b, " + String(repeating: "[", count: 100_000), "[\"\\\\\" " + String(repeating: "[", count: 100_000),
                     String(repeating: "[", count: 65) + String(repeating: "]", count: 65)] {
            #expect(error(deep) == "web config: nested deeper than 64 levels (the schema has 4)")
        }
        // Brackets in quotes and comments, and the indentation of inline certificates, are fine.
        let config = try parse("http_server_config:\n  headers:  # [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n"
                               + "    Content-Security-Policy: \"\(String(repeating: "{", count: 80))\"\n")
        #expect(config.headers.first?.value.count == 80)
    }

    @Test func hashesNeverAppearInErrors() {
        let text = error("basic_auth_users:\n  alice: \(Self.hash)\n  bob: \(Self.hash)x\n")
        #expect(text.contains("basic_auth_users.bob"))
        #expect(!text.contains("QOauhQ"))
        #expect("\(BcryptHash(Self.hash)!)" == "<redacted bcrypt hash, cost 10>")
    }

    @Test func everyGoCipherSuiteNameIsKnownToOpenSSL() throws {
        // cipher_suites with all 13 names of Go's tls.CipherSuites() loads (see TLS tests), and
        // each non-TLS-1.3 name maps to a suite the system OpenSSL has.
        #expect(GoCipherSuite.table.count == 13)
        #expect(GoCipherSuite.table.filter { $0.openSSL == nil }.map(\.go) ==
                ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"])
    }
}
