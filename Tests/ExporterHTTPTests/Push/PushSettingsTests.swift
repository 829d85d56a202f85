@testable import ExporterHTTP
import Foundation
import Testing
import TestSupport

/// What `push` is told: the gateway URL, the grouping key and its path (escaped exactly as
/// prometheus_client's `_escape_grouping_key` escapes it), and `--gateway.config.file`.
@Suite struct PushSettingsTests {
    /// (value, key and value in the path) as prometheus_client 0.26.0 prints them.
    static let escapes: [(String, String, String)] = [
        ("", "k@base64", "="), ("a", "k", "a"), ("a/b", "k@base64", "YS9i"), ("a b", "k@base64", "YSBi"), ("ü", "k", "%C3%BC"),
        ("x+y", "k", "x%2By"), ("a=b", "k", "a%3Db"), ("%", "k", "%25"), ("~._-", "k", "~._-"), ("/", "k@base64", "Lw=="),
        ("ä/ö", "k@base64", "w6Qvw7Y="), ("abc", "k", "abc"), ("ab", "k", "ab"), ("a?#&", "k", "a%3F%23%26"),
    ]

    @Test func groupingValuesAreEscapedAsPrometheusClientEscapesThem() {
        for (value, key, escaped) in Self.escapes {
            #expect(GroupingKey.escape(name: "k", value: value) == (key, escaped), "\(value.debugDescription)")
        }
    }

    @Test func theJobAndTheLabelsSortedMakeThePath() throws {
        let key = try GroupingKey(job: "nightly batch", pairs: ["zone=eu/1", "instance=", "a=b=c"])
        #expect(key.path == "/metrics/job@base64/bmlnaHRseSBiYXRjaA==/a/b%3Dc/instance@base64/=/zone@base64/ZXUvMQ==")
        #expect(try GroupingKey(job: "j", pairs: []).path == "/metrics/job/j")
    }

    @Test(arguments: [
        (["x"], "use name=value"), (["9x=1"], "is not a label name"), (["__x=1"], "is not a label name"),
        (["a.b=1"], "is not a label name"), (["job=1"], "the job is --job"), (["a=1", "a=2"], "a is given twice"),
    ])
    func badGroupingKeysAreRefused(_ pairs: [String], _ why: String) {
        #expect(throws: ConfigurationError.self) { try GroupingKey(job: "j", pairs: pairs) }
        do { _ = try GroupingKey(job: "j", pairs: pairs) } catch { #expect(error.description.contains(why), "\(error)") }
        #expect(throws: ConfigurationError("--job must not be empty")) { try GroupingKey(job: "", pairs: []) }
    }

    @Test func gatewayURLs() throws {
        let cases: [(String, Bool, String, Int, String, String)] = [
            ("http://pg:9091", false, "pg", 9091, "", "pg:9091"),
            ("pg:9091", false, "pg", 9091, "", "pg:9091"),
            ("https://pg.example/", true, "pg.example", 443, "", "pg.example"),
            ("HTTPS://pg:443/push/gw//", true, "pg", 443, "/push/gw", "pg"),
            ("http://[::1]:9091", false, "::1", 9091, "", "[::1]:9091"),
            ("http://127.0.0.1", false, "127.0.0.1", 80, "", "127.0.0.1"),
        ]
        for (text, tls, host, port, base, hostHeader) in cases {
            let url = try GatewayURL(parsing: text)
            #expect(url.tls == tls && url.host == host && url.port == port && url.basePath == base && url.hostHeader == hostHeader, "\(text)")
        }
        for bad in ["ftp://pg:21", "http://user:pw@pg:9091", "http://pg:0", "http://pg:99999", "http://pg:x", "http://:9091",
                    "http://[::1:9091", "http://pg:9091/?a=1", ""] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try GatewayURL(parsing: bad) }
        }
    }

    @Test func gatewayConfigFiles() throws {
        let directory = TemporaryDirectory(prefix: "gateway-config")
        try Data(" s3cret\n".utf8).write(to: URL(fileURLWithPath: directory.file("password")))
        func load(_ text: String) throws -> GatewayClientConfig {
            try Data(text.utf8).write(to: URL(fileURLWithPath: directory.file("config.yml")))
            return try GatewayClientConfig.load(path: directory.file("config.yml"))
        }
        var expected = GatewayClientConfig()
        expected.credentials = .basic(username: "pusher", password: "s3cret")
        expected.tls.caFile = directory.file("ca.crt")
        expected.tls.serverName = "pg.example"
        expected.tls.minVersion = .tls13
        #expect(try load("basic_auth: {username: pusher, password_file: password}\ntls_config:\n  ca_file: ca.crt\n  server_name: pg.example\n  min_version: TLS13\n") == expected)
        #expect(try load("authorization:\n  credentials_file: \(directory.file("password"))\n").credentials == .authorization(type: "Bearer", credentials: "s3cret"))
        #expect(GatewayClientConfig.Credentials.basic(username: "Aladdin", password: "open sesame").header == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        #expect(try load("").credentials == nil)
        let refusals: [(String, String)] = [
            ("basic_auth: {username: u, pasword: p}\n", "gateway config: basic_auth.pasword (line 1): unknown key"),
            ("basic_auth: {password: p}\n", "gateway config: basic_auth.username (line 1): is required"),
            ("basic_auth: {username: u, password: p, password_file: password}\n", "at most one of password and password_file"),
            ("basic_auth: {username: u}\nauthorization: {credentials: t}\n", "at most one of basic_auth and authorization"),
            ("authorization: {type: Basic, credentials: t}\n", "use basic_auth"),
            ("authorization: {credentials_file: missing}\n", "cannot read \(directory.file("missing"))"),
            ("tls_config: {cert_file: c.crt}\n", "tls_config.key_file"),
            ("tls_config: {min_version: TLS14}\n", "unknown TLS version"),
            ("tls_config: {insecure_skip_verify: maybe}\n", "must be true or false"),
            ("bearer_token: t\n", "gateway config: bearer_token (line 1): unknown key"),
            ("[\n", "gateway config: not valid YAML"),
        ]
        for (text, message) in refusals {
            do {
                _ = try load(text)
                Issue.record("accepted \(text.debugDescription)")
            } catch {
                #expect("\(error)".contains(message), "\(text.debugDescription): \(error)")
            }
        }
        #expect(throws: ConfigurationError.self) { try GatewayClientConfig.load(path: directory.file("absent.yml")) }
    }
}
