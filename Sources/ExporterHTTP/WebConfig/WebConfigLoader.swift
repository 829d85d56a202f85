import Glibc
import MultiprocSupport

/// A web config file and everything it names, read, checked and built: what a server runs with
/// between two reloads. Building it costs a bcrypt hash and TLS setup: never on the event loop.
struct LoadedWebConfig: Sendable {
    let config: WebConfig
    /// The OpenSSL context, when `tls_server_config` turns TLS on.
    let tls: TLSContext?
    let users: BasicAuthUsers
    /// `config.headers` as every response gets them (built once, not per request).
    let headers: [(String, String)]
    /// The config file and the certificate, key and CA files, as they were when read.
    let files: [FileFingerprint]

    init(config: WebConfig, tls: TLSContext?, users: BasicAuthUsers, files: [FileFingerprint]) {
        self.config = config
        self.tls = tls
        self.users = users
        headers = config.headers.map { ($0.name, $0.value) }
        self.files = files
    }
}

/// What tells a reloader that a file changed: device, inode, size and modification time, as
/// `stat(2)` (following symbolic links, so that Kubernetes' atomic Secret updates are seen) gives
/// them. A missing file is a fingerprint of its own.
struct FileFingerprint: Sendable, Equatable {
    let path: String
    let identity: [Int]?

    init(path: String) {
        self.path = path
        var info = stat()
        if stat(path, &info) == 0 {
            identity = [Int(info.st_dev), Int(info.st_ino), Int(info.st_size),
                        Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec), Int(info.st_ctim.tv_sec), Int(info.st_ctim.tv_nsec)]
        } else {
            identity = nil
        }
    }
}

/// Reads `--web.config.file` and builds a ``LoadedWebConfig``; every problem is one line naming
/// the file or key (``ConfigurationError``).
public enum WebConfigLoader {
    /// Checks the file as `serve` would load it, without serving: for tests and tools.
    public static func validate(path: String) throws(ConfigurationError) {
        _ = try load(path: path)
    }

    static func load(path: String) throws(ConfigurationError) -> LoadedWebConfig {
        // Fingerprints first: a change between them and the reads below shows at the next poll.
        let configPrint = FileFingerprint(path: path)
        let text = try read(path, what: "web config file")
        guard let string = String(validating: text, as: UTF8.self) else {
            throw ConfigurationError(YAMLFields.printable("web config: \(path) is not UTF-8 text"))
        }
        let config = try WebConfigParser.parse(string, directory: directory(of: path))
        var files = [configPrint]
        var tls: TLSContext?
        if let settings = config.tls {
            files += settings.watchedPaths.map(FileFingerprint.init)
            tls = try TLSContext(settings) { source, key throws(ConfigurationError) in
                switch source {
                case .inline(let text): Array(text.utf8)
                case .file(let file): try read(file, what: "tls_server_config.\(key)")
                }
            }
        }
        return LoadedWebConfig(config: config, tls: tls, users: BasicAuthUsers(config.users), files: files)
    }

    /// The certificate, key and CA files the config at `path` names, if it parses; else none.
    static func namedFiles(path: String) -> [String] {
        guard let text = try? read(path, what: "web config file"), let string = String(validating: text, as: UTF8.self),
              let config = try? WebConfigParser.parse(string, directory: directory(of: path)) else { return [] }
        return config.tls?.watchedPaths ?? []
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The bytes of `path`, at most ``WebConfigParser/maximumBytes``; the error names `what`.
    static func read(_ path: String, what: String) throws(ConfigurationError) -> [UInt8] {
        do {
            return try FileContents.read(path, limit: WebConfigParser.maximumBytes)
        } catch {
            let reason = error.description
            throw ConfigurationError(YAMLFields.printable(what.hasPrefix("web config") ? "web config: cannot read \(path): \(reason)"
                                                                                       : "web config: \(what): cannot read \(path): \(reason)"))
        }
    }
}
