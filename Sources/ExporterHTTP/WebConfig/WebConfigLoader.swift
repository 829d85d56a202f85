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
    /// SHA-256 of every byte read (the config file, then each file it names): a reload that
    /// reads the same bytes as the running config changes nothing.
    let digest: [UInt8]
    /// The coarse clock (``FileFingerprint/coarseNow()``) when reading began and ended.
    let readDuring: ClosedRange<Int>

    init(config: WebConfig, tls: TLSContext?, users: BasicAuthUsers, files: [FileFingerprint], digest: [UInt8],
         readDuring: ClosedRange<Int>) {
        self.config = config
        self.tls = tls
        self.users = users
        headers = config.headers.map { ($0.name, $0.value) }
        self.files = files
        self.digest = digest
        self.readDuring = readDuring
    }
}

/// What tells a reloader that a file changed: device, inode, size and modification time, as
/// `stat(2)` (following symbolic links, so that Kubernetes' atomic Secret updates are seen) gives
/// them. A missing file is a fingerprint of its own.
struct FileFingerprint: Sendable, Equatable {
    /// What `stat` says; a plain value: the fingerprints are taken for every request.
    struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int
        /// Modification and status change times, nanoseconds since the epoch.
        var modified: Int
        var changed: Int
    }

    let path: String
    let identity: Identity?

    init(path: String) {
        self.path = path
        var info = stat()
        if stat(path, &info) == 0 {
            identity = Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int(info.st_size),
                                modified: info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec,
                                changed: info.st_ctim.tv_sec * 1_000_000_000 + info.st_ctim.tv_nsec)
        } else {
            identity = nil
        }
    }

    /// Whether the file is still as this fingerprint says (one `stat`).
    var isCurrent: Bool { FileFingerprint(path: path).identity == identity }

    /// Whether `fingerprints`, taken while reading during `reading` (``coarseNow()`` before and
    /// after), may miss an edit that followed the read. A file's times come from the kernel's
    /// coarse clock, so a second edit in the same clock tick as the first, of the same size,
    /// leaves an equal fingerprint ("racy git"): only a file last changed before the read began
    /// is certainly as read. (A time beyond the read, set by hand, is not that case: any real
    /// edit then gets another time.)
    static func mayMissEdit(_ fingerprints: [FileFingerprint], readDuring reading: ClosedRange<Int>) -> Bool {
        fingerprints.contains { print in
            guard let identity = print.identity else { return false }
            return reading.contains(max(identity.modified, identity.changed))
        }
    }

    /// The coarse wall clock file times are taken from, in nanoseconds.
    static func coarseNow() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &now)
        return now.tv_sec * 1_000_000_000 + now.tv_nsec
    }
}

/// Reads `--web.config.file` and builds a ``LoadedWebConfig``; every problem is one line naming
/// the file or key (``ConfigurationError``).
public enum WebConfigLoader {
    /// Checks the file as `serve` would load it, without serving: for tests and tools.
    public static func validate(path: String) throws(ConfigurationError) {
        _ = try load(path: path)
    }


    /// Reads and builds the config at `path`; the bcrypt decoy of `previous` (a reload) is
    /// reused when its cost still fits. Equal ``LoadedWebConfig/digest``s mean nothing changed.
    static func load(path: String, previous: LoadedWebConfig? = nil) throws(ConfigurationError) -> LoadedWebConfig {
        let started = FileFingerprint.coarseNow()
        // Fingerprints first: a change between them and the reads below shows at the next check.
        let configPrint = FileFingerprint(path: path)
        let text = try read(path, what: "web config file")
        guard let string = String(validating: text, as: UTF8.self) else {
            throw ConfigurationError(YAMLFields.printable("web config: \(path) is not UTF-8 text"))
        }
        let config = try WebConfigParser.parse(string, directory: directory(of: path))
        var files = [configPrint]
        var everything = framed(text)
        var tls: TLSContext?
        if let settings = config.tls {
            files += settings.watchedPaths.map(FileFingerprint.init)
            tls = try TLSContext(settings) { source, key throws(ConfigurationError) in
                let bytes = switch source {
                case .inline(let text): Array(text.utf8)
                case .file(let file): try read(file, what: "tls_server_config.\(key)")
                }
                everything += framed(bytes)
                return bytes
            }
        }
        let digest = FetchedDigest.sha256.digest(everything)
        for i in everything.indices { everything[i] = 0 }  // it held the private key
        return LoadedWebConfig(config: config, tls: tls, users: BasicAuthUsers(config.users, reusingDecoyOf: previous?.users),
                               files: files, digest: digest, readDuring: started...FileFingerprint.coarseNow())
    }

    /// `bytes` preceded by their length, so that the digest of several files tells their borders.
    private static func framed(_ bytes: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt64(bytes.count).bigEndian, Array.init) + bytes
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
