@testable import ExporterHTTP
import Foundation
import TestSupport
import MultiprocSupport
import Testing

/// `basic_auth_users`: bcrypt through libxcrypt, checked against hashes made by htpasswd and Go.
@Suite("web config: basic auth", .enabled(if: TLSFiles.toolsAvailable))
struct BasicAuthTests {
    static let password = "correct horse battery staple"

    static func users() throws -> String {
        let alice = try #require(try TLSFiles.htpasswdHash(password))
        return "basic_auth_users:\n  alice: \(alice)\n  go-user: \(TLSFiles.goHashOfFakepassword)\n"
    }

    @Test func goodBadUnknownAndMissingCredentials() throws {
        try WebConfigFixture.with(WebConfigFixture.tls + Self.users()) { server, _ throws in
            let good = try Curl.get(port: server.port, "/metrics", user: "alice:\(Self.password)")
            #expect(good.status == 200, "\(good.stderr)")
            #expect(good.body.contains("jobs_total{kind=\"a\"} 7.0"))
            // exporter-toolkit's own hash, made by Go's bcrypt: an independent implementation agrees.
            #expect(try Curl.get(port: server.port, "/metrics", user: "go-user:fakepassword").status == 200)
            for user in ["alice:wrong", "alice:", "bob:\(Self.password)", "Alice:\(Self.password)", "go-user:fakepassword\u{1}"] {
                let refused = try Curl.get(port: server.port, "/metrics", user: user)
                #expect(refused.status == 401, "\(user)")
                #expect(refused.headers["www-authenticate"] == "Basic")
                #expect(refused.body == "Unauthorized\n")
                #expect(!refused.body.contains("jobs_total"))
            }
            let none = try Curl.get(port: server.port, "/metrics")
            #expect(none.status == 401 && none.headers["www-authenticate"] == "Basic")
            // Every route but /healthz: the landing page and unknown paths too (as exporter-toolkit).
            #expect(try Curl.get(port: server.port, "/").status == 401)
            #expect(try Curl.get(port: server.port, "/nope").status == 401)
            #expect(try Curl.get(port: server.port, "/nope", user: "alice:\(Self.password)").status == 404)
            let health = try Curl.get(port: server.port, "/healthz")
            #expect(health.status == 200 && health.body == "ok\n")
            #expect(!server.log.all.joined().contains(Self.password))
        }
    }

    @Test func basicAuthWithoutTLSWorksOnPlainHTTP() throws {
        try WebConfigFixture.with(Self.users()) { server, _ throws in
            #expect(try server.get("/metrics").status == 401)
            let token = Data("alice:\(Self.password)".utf8).base64EncodedString()
            #expect(try server.get("/metrics", headers: [("Authorization", "Basic \(token)")]).status == 200)
            #expect(try server.get("/metrics", headers: [("Authorization", "basic \(token)")]).status == 200)
            #expect(try server.get("/metrics", headers: [("Authorization", "Basic  \(token)")]).status == 401)
            #expect(try server.get("/metrics", headers: [("Authorization", "Bearer \(token)")]).status == 401)
            #expect(try server.get("/healthz").status == 200)
        }
    }

    @Test func headersGoOnEveryResponse() throws {
        let yaml = WebConfigFixture.tls + (try Self.users())
            + "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=600\n"
        try WebConfigFixture.with(yaml) { server, _ throws in
            for (path, user, status) in [("/metrics", "alice:\(Self.password)", 200), ("/metrics", nil, 401),
                                         ("/healthz", nil, 200), ("/x", "alice:\(Self.password)", 404)] {
                let r = try Curl.get(port: server.port, path, user: user)
                #expect(r.status == status, "\(path)")
                #expect(r.headers["x-frame-options"] == "deny", "\(path)")
                #expect(r.headers["strict-transport-security"] == "max-age=600", "\(path)")
            }
        }
    }

    @Test func rateLimitRefusesBeyondTheBurst() throws {
        try WebConfigFixture.with("rate_limit: {interval: 1h, burst: 2}\n") { server, _ throws in
            #expect(try server.get("/healthz").status == 200)
            #expect(try server.get("/metrics").status == 200)
            let refused = try server.get("/metrics")
            #expect(refused.status == 429 && refused.text == "Too Many Requests\n")
        }
    }

    @Test func markDeadNeedsBasicAuthAndLoopback() throws {
        try WebConfigFixture.with(Self.users()) { server, _ throws in
            let token = Data("alice:\(Self.password)".utf8).base64EncodedString()
            #expect(try server.request("POST", "/mark-dead/101").status == 401)
            #expect(server.fixture.files().contains("gauge_livesum_101.db"))
            #expect(try server.request("POST", "/mark-dead/101", headers: [("Authorization", "Basic \(token)")]).status == 200)
            #expect(!server.fixture.files().contains("gauge_livesum_101.db"))
        }
        try WebConfigFixture.with(Self.users(), configure: { $0.trustsAdminPeer = { _ in false } }) { server, _ throws in
            let token = Data("alice:\(Self.password)".utf8).base64EncodedString()
            #expect(try server.request("POST", "/mark-dead/101", headers: [("Authorization", "Basic \(token)")]).status == 403)
        }
    }

    @Test func markDeadWithATokenFileTakesTheBearerToken() throws {
        let token = try AdminToken(fileContents: Array("t0ken".utf8))
        try WebConfigFixture.with(Self.users(), configure: { $0.adminToken = token }) { server, _ throws in
            let basic = Data("alice:\(Self.password)".utf8).base64EncodedString()
            let withBasic = try server.request("POST", "/mark-dead/101", headers: [("Authorization", "Basic \(basic)")])
            #expect(withBasic.status == 401 && withBasic.header("WWW-Authenticate") == "Bearer")
            #expect(try server.request("POST", "/mark-dead/101", headers: [("Authorization", "Bearer t0ken")]).status == 200)
            #expect(try server.get("/metrics", headers: [("Authorization", "Bearer t0ken")]).status == 401)
        }
    }

    // MARK: The checker itself

    @Test func successIsCachedFailureIsNotAndUnknownUsersCostABcrypt() throws {
        let text = try #require(try TLSFiles.htpasswdHash("pw", cost: 6))
        let hash = try #require(BcryptHash(text))
        let users = BasicAuthUsers(["alice": hash])
        #expect(users.decoy?.cost == 6)  // an unknown user costs what alice's wrong password costs
        let pool = WorkerPool(threads: 1, name: "test-bcrypt")
        defer { pool.stop() }
        let checker = PasswordChecker(pool: pool)
        func check(_ user: String, _ password: String) -> (PasswordChecker.Decision, Bool?) {
            let result = Locked<Bool?>(nil)
            let credentials = BasicAuthCredentials(header: "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
            let decision = checker.check(credentials, users: users) { ok in result.withLock { $0 = ok } }
            if case .checking = decision { _ = waitUntil { result.withLock { $0 } != nil } }
            return (decision, result.withLock { $0 })
        }
        #expect(check("alice", "pw") == (.checking, true))
        #expect(check("alice", "pw") == (.allowed, nil))  // cached: no bcrypt
        #expect(check("alice", "nope") == (.checking, false))
        #expect(check("alice", "nope") == (.checking, false))  // failures are not cached
        #expect(check("mallory", "pw") == (.checking, false))  // bcrypt ran, on the decoy
        #expect(checker.check(nil, users: users) { _ in } == .denied)
    }

    @Test func concurrentChecksOfTheSameCredentialsShareOneBcrypt() throws {
        let text = try #require(try TLSFiles.htpasswdHash("pw", cost: 8))
        let hash = try #require(BcryptHash(text))
        let users = BasicAuthUsers(["alice": hash])
        let pool = WorkerPool(threads: 2, name: "test-bcrypt")
        defer { pool.stop() }
        let checker = PasswordChecker(pool: pool)
        let credentials = BasicAuthCredentials(header: "Basic " + Data("alice:pw".utf8).base64EncodedString())
        let results = Locked(0)
        var decisions: [PasswordChecker.Decision] = []
        for _ in 0..<10 {
            decisions.append(checker.check(credentials, users: users) { ok in if ok { results.withLock { $0 += 1 } } })
        }
        #expect(decisions == Array(repeating: .checking, count: 10))
        #expect(waitUntil { results.withLock { $0 } == 10 })
        // Distinct wrong passwords beyond the in-flight limit are turned away, not queued.
        var busy = 0
        for i in 0..<(PasswordChecker.maxChecksInFlight + 3) {
            let wrong = BasicAuthCredentials(header: "Basic " + Data("alice:wrong\(i)".utf8).base64EncodedString())
            if case .busy = checker.check(wrong, users: users, completion: { _ in }) { busy += 1 }
        }
        #expect(busy == 3)
    }

    static let headerCases: [(String?, String?, String?)] = [
        ("Basic YWxpY2U6cHc=", "alice", "pw"),
        ("BASIC YWxpY2U6cHc=", "alice", "pw"),
        ("Basic YWxpY2U6cHc6eA==", "alice", "pw:x"),          // split at the first colon
        ("Basic OnB3", "", "pw"),                              // empty user
        ("Basic YWxpY2U6", "alice", ""),                       // empty password
        ("Basic YWxpY2U6cHd=", "alice", "pw"),                 // non-zero trailing bits: Go accepts
        ("Basic YWxp\r\nY2U6cHc=", "alice", "pw"),             // Go skips CR/LF
        ("Basic YWxpY2U6cHc", nil, nil),                       // padding required
        ("Basic YWxpY2U=cHc=", nil, nil),                      // padding in the middle
        ("Basic YWxpY2U", nil, nil),
        ("Basic YWxpY2U=", nil, nil),                          // no colon
        ("Basic  YWxpY2U6cHc=", nil, nil),
        ("Basic", nil, nil), ("Bearer YWxpY2U6cHc=", nil, nil), ("YWxpY2U6cHc=", nil, nil), ("", nil, nil), (nil, nil, nil),
        ("Basic YW-pY2U6cHc=", nil, nil),                      // URL-safe alphabet is not standard base64
    ]

    @Test(arguments: headerCases)
    func authorizationHeaderAsGoReadsIt(header: String?, user: String?, password: String?) {
        let parsed = BasicAuthCredentials(header: header)
        #expect(parsed.map { String(decoding: $0.user, as: UTF8.self) } == user, "\(header ?? "nil")")
        #expect(parsed.map { String(decoding: $0.password, as: UTF8.self) } == password, "\(header ?? "nil")")
    }
}
