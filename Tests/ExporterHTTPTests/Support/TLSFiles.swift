import Foundation
import TestSupport

/// Certificates made by the `openssl` command line for the test run: two CAs, a server
/// certificate for localhost/127.0.0.1, client certificates with every kind of SAN, and bcrypt
/// hashes made by `htpasswd` (Apache's implementation, not the one under test).
final class TLSFiles: Sendable {
    let dir: URL

    /// Shared by the tests that only read them (made once per run, in parallel-safe order).
    static let shared: TLSFiles = try! TLSFiles()

    /// Whether openssl, curl and htpasswd are installed. CI (REQUIRE_INTEGRATION=1) runs the
    /// suites regardless, so that a missing tool fails there instead of skipping.
    static var toolsAvailable: Bool {
        ProcessInfo.processInfo.environment["REQUIRE_INTEGRATION"] == "1"
            || ["openssl", "curl", "htpasswd"].allSatisfy(ChildProcess.available)
    }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try makeCA("ca")
        try makeCA("other-ca")
        try issue("server", by: "ca", subject: "/CN=localhost", sans: "DNS:localhost,IP:127.0.0.1", usage: "serverAuth")
        try issue("server2", by: "other-ca", subject: "/CN=localhost", sans: "DNS:localhost,IP:127.0.0.1", usage: "serverAuth")
        try issue("client-dns", by: "ca", subject: "/CN=prometheus", sans: "DNS:prometheus.monitoring.svc", usage: "clientAuth")
        try issue("client-ip", by: "ca", subject: "/CN=ip", sans: "IP:10.1.2.3", usage: "clientAuth")
        try issue("client-email", by: "ca", subject: "/CN=mail", sans: "email:scraper@example.com", usage: "clientAuth")
        try issue("client-uri", by: "ca", subject: "/CN=uri", sans: "URI:spiffe://cluster.local/ns/monitoring/sa/prometheus", usage: "clientAuth")
        try issue("client-other-ca", by: "other-ca", subject: "/CN=stranger", sans: "DNS:prometheus.monitoring.svc", usage: "clientAuth")
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    private func openssl(_ arguments: [String]) throws {
        let result = try ChildProcess.run("openssl", arguments)
        guard result.status == 0 else { throw ChildProcess.Failure(description: "openssl \(arguments): \(result.stderr)") }
    }

    private func makeCA(_ name: String) throws {
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", path("\(name).key"), "-out", path("\(name).pem"), "-days", "2", "-subj", "/CN=\(name)"])
    }

    /// `<name>.crt` and `<name>.key`, signed by `<ca>`.
    func issue(_ name: String, by ca: String, subject: String, sans: String, usage: String) throws {
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", subject])
        let ext = path("\(name).ext")
        try "subjectAltName=\(sans)\nextendedKeyUsage=\(usage)\n".write(toFile: ext, atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
                     "-CAcreateserial", "-out", path("\(name).crt"), "-days", "2", "-extfile", ext])
    }

    /// A `$2y$` hash of `password` by `htpasswd -B` (cost 5: fast tests), or nil without htpasswd.
    static func htpasswdHash(_ password: String, cost: Int = 5) throws -> String? {
        guard ChildProcess.available("htpasswd") else { return nil }
        let result = try ChildProcess.run("htpasswd", ["-nbBC", "\(cost)", "", password])
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(in: CharacterSet(charactersIn: ":"))
    }

    /// exporter-toolkit's decoy hash: Go's bcrypt of "fakepassword" (a vector from the Go side).
    static let goHashOfFakepassword = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
}
