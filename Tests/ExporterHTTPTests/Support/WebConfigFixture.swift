import ExporterHTTP
import Foundation
import TestSupport
import MultiprocCollector

/// A folder holding a `web.yml` and copies of the test certificates (so that the YAML can name
/// them by relative path), and servers started with it.
final class WebConfigFixture: @unchecked Sendable {
    private let directory = TemporaryDirectory(prefix: "webconfig")
    var dir: URL { directory.url }
    var path: String { dir.appendingPathComponent("web.yml").path }

    /// Copies `files` (names in ``TLSFiles``) next to a `web.yml` holding `yaml`.
    init(_ yaml: String, files: [String] = ["server.crt", "server.key", "ca.pem"]) throws {
        for file in files { try copy(TLSFiles.shared.path(file), as: file) }
        try write(yaml)
    }

    /// Replaces `web.yml` atomically (new inode), as editors and Kubernetes do.
    func write(_ yaml: String) throws {
        try replace("web.yml", with: Data(yaml.utf8))
    }

    /// Rewrites `web.yml` in place (same inode) with `yaml` of the same size, in one `pwrite`
    /// (`truncate` first would let a reader see an empty file in between).
    func overwrite(_ yaml: String) throws {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(fd) }
        let bytes = Array(yaml.utf8)
        var info = stat()
        guard fstat(fd, &info) == 0, Int(info.st_size) == bytes.count, pwrite(fd, bytes, bytes.count, 0) == bytes.count else {
            throw CocoaError(.fileWriteUnknown)
        }
    }

    /// Replaces `name` in the folder with the contents of `source`.
    func copy(_ source: String, as name: String) throws {
        try replace(name, with: Data(contentsOf: URL(fileURLWithPath: source)))
    }

    private func replace(_ name: String, with data: Data) throws {
        let temporary = dir.appendingPathComponent(".\(name).tmp")
        try data.write(to: temporary)
        guard rename(temporary.path, dir.appendingPathComponent(name).path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: dir.appendingPathComponent(name).path])
        }
    }

    /// A server using this web config, polling it every 50 ms.
    func server(configure: (inout ExporterConfiguration) -> Void = { _ in },
                source: (DirectoryCollector) -> any MetricsSource = { $0 }) throws -> TestServer {
        try TestServer(configure: { config in
            config.webConfigFile = path
            config.webConfigReloadInterval = 0.05
            configure(&config)
        }, source: source)
    }

    func remove() { directory.remove() }

    /// Runs `body` against a server over a fresh fixture, and cleans both up.
    static func with(_ yaml: String, configure: (inout ExporterConfiguration) -> Void = { _ in },
                     _ body: (TestServer, WebConfigFixture) throws -> Void) throws {
        let fixture = try WebConfigFixture(yaml)
        defer { fixture.remove() }
        let server = try fixture.server(configure: configure)
        defer { server.stop() }
        try body(server, fixture)
    }

    /// The TLS part every TLS test starts from.
    static let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
}
