import MultiprocSupport

/// `--gateway.config.file`: how `push` authenticates to the Pushgateway and checks its TLS
/// certificate. A small part of Prometheus' HTTP client configuration (`http_config`, the
/// shape of a scrape config's `basic_auth`, `authorization` and `tls_config`), with the same
/// key names and meaning, read as strictly as `--web.config.file`: unknown or repeated keys,
/// wrong types and contradictions are errors naming the key and line.
///
/// ```yaml
/// basic_auth:                      # or authorization: {type: Bearer, credentials_file: token}
///   username: batch
///   password_file: pushgateway.password
/// tls_config:
///   ca_file: ca.crt                # relative paths: from this file's folder
///   cert_file: client.crt          # a client certificate, if the gateway asks for one
///   key_file: client.key
///   server_name: pushgateway.example   # the name the certificate must carry (default: the URL's host)
///   min_version: TLS12
///   insecure_skip_verify: false
/// ```
///
/// Secrets and files are read once, when the file is loaded; `*_file` contents lose the
/// whitespace around them, as Prometheus reads them.
public struct GatewayClientConfig: Sendable, Equatable {
    /// What goes in the `Authorization` header.
    public enum Credentials: Sendable, Equatable {
        /// `basic_auth`: `Authorization: Basic base64(username:password)`.
        case basic(username: String, password: String)
        /// `authorization`: `Authorization: <type> <credentials>` (type `Bearer` by default).
        case authorization(type: String, credentials: String)

        /// The header value.
        var header: String {
            switch self {
            case .basic(let username, let password): "Basic " + Base64.encode(Array("\(username):\(password)".utf8))
            case .authorization(let type, let credentials): "\(type) \(credentials)"
            }
        }
    }

    /// `tls_config`, for `https://` gateways.
    public struct TLS: Sendable, Equatable {
        /// CA certificates to verify the gateway with (PEM); nil: the system's.
        public var caFile: String?
        /// A client certificate (PEM, with its chain) and its unencrypted key, both or neither.
        public var certFile: String?
        public var keyFile: String?
        /// The name the gateway's certificate must carry, and the SNI sent; nil: the URL's host.
        public var serverName: String?
        /// Accept any certificate (tests only: anyone in the middle reads the push).
        public var insecureSkipVerify = false
        public var minVersion = TLSVersion.tls12

        public init() {}
    }

    public var credentials: Credentials?
    public var tls = TLS()

    /// No credentials, TLS verified against the system's CAs.
    public init() {}

    /// Reads and checks the file at `path` (and the secret files it names).
    public static func load(path: String) throws(ConfigurationError) -> GatewayClientConfig {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.read(path, limit: WebConfigParser.maximumBytes)
        } catch {
            throw ConfigurationError("gateway config: cannot read \(path): \(error.description)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationError(YAMLFields.printable("gateway config: \(path) is not UTF-8 text"))
        }
        do {
            return try parse(text, directory: WebConfigLoader.directory(of: path))
        } catch {
            // The YAML helpers are the web config's and say so: this is the other file.
            let message = error.description
            throw message.hasPrefix("web config: ") ? ConfigurationError("gateway config: " + message.dropFirst(12)) : error
        }
    }

    static let topKeys: Set<String> = ["basic_auth", "authorization", "tls_config"]
    static let basicAuthKeys: Set<String> = ["username", "password", "password_file"]
    static let authorizationKeys: Set<String> = ["type", "credentials", "credentials_file"]
    static let tlsKeys: Set<String> = ["ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify", "min_version"]

    /// Parses `text`; relative paths resolve against `directory`, secret files are read.
    static func parse(_ text: String, directory: String) throws(ConfigurationError) -> GatewayClientConfig {
        let top = try YAMLFields(WebConfigParser.compose(text, label: "gateway config"), path: "")
        try top.check(known: topKeys)
        var config = GatewayClientConfig()
        func path(_ file: String) -> String { file.hasPrefix("/") || directory.isEmpty ? file : directory + "/" + file }
        func secret(_ f: YAMLFields, _ key: String, _ fileKey: String) throws(ConfigurationError) -> String? {
            let inline = try f.string(key)
            guard let file = try f.string(fileKey) else { return inline }
            guard inline == nil else {
                throw YAMLFields.error(f.fieldPath(fileKey), f.node(fileKey), "at most one of \(key) and \(fileKey)")
            }
            do {
                let bytes = try FileContents.read(path(file), limit: 1 << 16)
                return String(decoding: bytes, as: UTF8.self).trimmingWhitespace
            } catch {
                throw YAMLFields.error(f.fieldPath(fileKey), f.node(fileKey), "cannot read \(path(file)): \(error.description)")
            }
        }
        if top.node("basic_auth") != nil {
            let f = try YAMLFields(top.node("basic_auth"), path: "basic_auth")
            try f.check(known: basicAuthKeys)
            guard let username = try f.string("username") else {
                throw YAMLFields.error("basic_auth.username", top.node("basic_auth"), "is required")
            }
            config.credentials = .basic(username: username, password: try secret(f, "password", "password_file") ?? "")
        }
        if top.node("authorization") != nil {
            let f = try YAMLFields(top.node("authorization"), path: "authorization")
            try f.check(known: authorizationKeys)
            guard config.credentials == nil else {
                throw YAMLFields.error("authorization", top.node("authorization"), "at most one of basic_auth and authorization")
            }
            let type = try f.string("type") ?? "Bearer"
            guard type.lowercased() != "basic" else {
                throw YAMLFields.error(f.fieldPath("type"), f.node("type"), "use basic_auth for Basic credentials")
            }
            guard let credentials = try secret(f, "credentials", "credentials_file") else {
                throw YAMLFields.error("authorization.credentials", top.node("authorization"), "is required")
            }
            config.credentials = .authorization(type: type, credentials: credentials)
        }
        let f = try YAMLFields(top.node("tls_config"), path: "tls_config")
        try f.check(known: tlsKeys)
        config.tls.caFile = try f.string("ca_file").map(path)
        config.tls.certFile = try f.string("cert_file").map(path)
        config.tls.keyFile = try f.string("key_file").map(path)
        guard (config.tls.certFile == nil) == (config.tls.keyFile == nil) else {
            let missing = config.tls.certFile == nil ? "cert_file" : "key_file"
            throw YAMLFields.error(f.fieldPath(missing), top.node("tls_config"), "is required with \(missing == "cert_file" ? "key_file" : "cert_file")")
        }
        config.tls.serverName = try f.string("server_name")
        config.tls.insecureSkipVerify = try f.bool("insecure_skip_verify") ?? false
        config.tls.minVersion = try WebConfigParser.version("min_version", f) ?? .tls12
        return config
    }
}

extension String {
    /// Without the whitespace around it (Go's `strings.TrimSpace` for ASCII whitespace).
    var trimmingWhitespace: String {
        let isSpace: (Unicode.Scalar) -> Bool = { " \t\n\r\u{0B}\u{0C}".unicodeScalars.contains($0) }
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }), let last = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(scalars[first...last])
    }
}
