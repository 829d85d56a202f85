/// Parses a `--web.config.file` into a ``WebConfig``, with exporter-toolkit's schema and rules
/// (`web/tls_config.go`, `web/handler.go`) and go-yaml v2's strictness: unknown or repeated keys,
/// wrong types, unknown names and bad hashes are errors, each one line naming the key.
///
/// Reads no file: paths are only resolved against `directory` (the config file's folder), as
/// exporter-toolkit's `SetDirectory` does. Keys we cannot honour are refused by name, except
/// where accepting them changes nothing (see ``unsupported``).
public enum WebConfigParser {
    /// Keys of the schema; the refusals below come from ``unsupported``.
    static let topKeys: Set<String> = ["tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"]
    static let tlsKeys: Set<String> = [
        "cert", "key", "client_ca", "cert_file", "key_file", "client_auth_type", "client_ca_file", "cipher_suites",
        "curve_preferences", "min_version", "max_version", "prefer_server_cipher_suites", "client_allowed_sans",
    ]
    static let httpKeys: Set<String> = ["http2", "headers"]
    static let rateLimitKeys: Set<String> = ["interval", "burst"]

    /// `http_server_config.headers`: exporter-toolkit's allowed names, with their allowed values
    /// where it has a list (empty: any value).
    static let allowedHeaders: [String: [String]] = [
        "Strict-Transport-Security": [], "X-Content-Type-Options": ["nosniff"],
        "X-Frame-Options": ["deny", "sameorigin"], "X-XSS-Protection": [], "Content-Security-Policy": [],
    ]

    /// The one setting of exporter-toolkit's schema that is refused: `http2: true` asks for HTTP/2,
    /// which this server does not speak. `http2: false` (HTTP/1.1 only) is what it serves, so it is
    /// accepted; absent, Go's default `true` only means "offer h2 where the client can", and
    /// clients then use HTTP/1.1, so absence is accepted too.
    static let unsupported = "not supported by multiproc-exporter"

    /// Largest file read: web configs are a few kilobytes; inline certificates add a few more.
    public static let maximumBytes = 1 << 20

    /// Deepest nesting accepted, in the text (``nestingBound(_:)``, checked first, so that the error
    /// names the nesting rather than whatever libyaml trips over further on) and once aliases are
    /// expanded (``YAMLComposer``). Found by fuzzing when the composer was Yams', which recursed once
    /// per level: 4,000 `{` overflowed its stack. The schema itself is 4 levels deep.
    static let maximumNesting = 64

    /// Most YAML nodes accepted once aliases are expanded: about what the largest file accepted
    /// holds without aliases, so only alias bombs reach it, refused before the walk expands them.
    static let maximumNodes = maximumBytes

    /// Parses `text`; relative paths resolve against `directory`.
    public static func parse(_ text: String, directory: String) throws(ConfigurationError) -> WebConfig {
        let root = try compose(text, label: "web config", schemaDepth: " (the schema has 4)")
        let top = try YAMLFields(root, path: "")
        try top.check(known: topKeys)
        var config = WebConfig()
        config.tls = try tls(YAMLFields(top.node("tls_server_config"), path: "tls_server_config"), directory: directory,
                             notes: &config.notes)
        config.headers = try headers(YAMLFields(top.node("http_server_config"), path: "http_server_config"))
        config.users = try users(YAMLFields(top.node("basic_auth_users"), path: "basic_auth_users"))
        config.rateLimit = try rateLimit(YAMLFields(top.node("rate_limit"), path: "rate_limit"))
        return config
    }

    /// The YAML of a configuration file (`label` names it in errors), within the bounds on
    /// nesting and alias expansion that keep a hostile file from exhausting the stack or memory.
    static func compose(_ text: String, label: String, schemaDepth: String = "") throws(ConfigurationError) -> YAMLNode? {
        let tooDeep = "\(label): nested deeper than \(maximumNesting) levels\(schemaDepth)"
        guard nestingBound(text) <= maximumNesting else { throw ConfigurationError(tooDeep) }
        do {
            return try YAMLComposer(maximumNesting: maximumNesting, maximumNodes: maximumNodes).compose(text)
        } catch .nestedTooDeep {
            throw ConfigurationError(tooDeep)
        } catch .tooManyNodes(let limit) {
            throw ConfigurationError("\(label): more than \(limit) YAML nodes once aliases are expanded")
        } catch {
            throw ConfigurationError(YAMLFields.printable("\(label): not valid YAML: \(error)"))
        }
    }

    /// An upper bound of the YAML nesting depth of `text`, without parsing it: open flow
    /// collections (`[`, `{` outside quoted scalars and comments) plus, per line, the indentation
    /// and the block indicators (`- `, `? `, `: `) on that line. Quoted scalars are only skipped
    /// where a quote can open one and up to where it really closes, so nothing can hide brackets.
    static func nestingBound(_ text: String) -> Int {
        let space = UInt8(ascii: " "), backslash = UInt8(ascii: "\\")
        let scalarStarts: Set<UInt8> = [space, UInt8(ascii: "\t"), UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ",")]
        var deepest = 0, flow = 0
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            var block = line.prefix { $0 == space }.count
            var quote: UInt8? = nil
            var escaped = false
            var previous = space
            for byte in line {
                if let open = quote {
                    if escaped {
                        escaped = false
                    } else if byte == backslash && open == UInt8(ascii: "\"") {
                        escaped = true
                    } else if byte == open {
                        quote = nil
                    }
                } else if byte == UInt8(ascii: "#") && previous == space {
                    break  // a comment runs to the end of the line
                } else if (byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")) && scalarStarts.contains(previous) {
                    quote = byte
                } else if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
                    flow += 1
                } else if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                    flow = max(0, flow - 1)
                } else if byte == space && [UInt8(ascii: "-"), UInt8(ascii: "?"), UInt8(ascii: ":")].contains(previous) {
                    block += 1
                }
                previous = byte
                deepest = max(deepest, flow + block)
            }
            deepest = max(deepest, flow + block)
        }
        return deepest
    }

    // MARK: tls_server_config

    private static func tls(_ f: YAMLFields, directory: String, notes: inout [String]) throws(ConfigurationError) -> TLSServerSettings? {
        try f.check(known: tlsKeys)
        func path(_ key: String) throws(ConfigurationError) -> String? {
            try f.string(key).map { $0.hasPrefix("/") ? $0 : (directory.isEmpty ? $0 : "\(directory)/\($0)") }
        }
        let certFile = try path("cert_file"), keyFile = try path("key_file"), caFile = try path("client_ca_file")
        let cert = try f.string("cert"), key = try f.string("key"), ca = try f.string("client_ca")
        let clientAuthText = try f.string("client_auth_type")

        // Names are checked whether or not TLS ends up on, as go-yaml checks them while decoding.
        let clientAuth = try clientAuthText.map { text throws(ConfigurationError) in try Self.clientAuth(text, f) } ?? .noClientCert
        let minVersion = try version("min_version", f) ?? .tls12
        let maxVersion = try version("max_version", f) ?? .tls13
        let suites = try f.names("cipher_suites", GoCipherSuite.init(goName:)) { name in
            "unknown cipher \"\(name)\" (Go's tls.CipherSuites() names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)"
        }
        let curves = try f.names("curve_preferences", GoCurve.init(rawValue:)) { name in
            "unknown curve \"\(name)\" (want CurveP256, CurveP384, CurveP521 or X25519)"
        }
        let preferServer = try f.bool("prefer_server_cipher_suites") ?? true
        let allowedSANs = try f.strings("client_allowed_sans")

        // exporter-toolkit's TLSConfig.IsEnabled: only these keys turn TLS on.
        guard certFile != nil || cert != nil || keyFile != nil || key != nil || caFile != nil || ca != nil
            || clientAuthText != nil else { return nil }
        let here = f.path
        guard let certificate = certFile.map(TLSServerSettings.PEMSource.file) ?? cert.map(TLSServerSettings.PEMSource.inline) else {
            throw YAMLFields.error(here, nil, "missing one of cert or cert_file")
        }
        guard let privateKey = keyFile.map(TLSServerSettings.PEMSource.file) ?? key.map(TLSServerSettings.PEMSource.inline) else {
            throw YAMLFields.error(here, nil, "missing one of key or key_file")
        }
        for (file, inline) in [("cert_file", "cert"), ("key_file", "key"), ("client_ca_file", "client_ca")]
        where f.node(file) != nil && f.node(inline) != nil {
            notes.append("\(here): both \(file) and \(inline) are set; \(file) is used, as exporter-toolkit does")
        }
        let clientCA = caFile.map(TLSServerSettings.PEMSource.file) ?? ca.map(TLSServerSettings.PEMSource.inline)
        if clientCA != nil && clientAuth == .noClientCert {
            throw YAMLFields.error(here, nil, "client CA's have been configured without a Client Auth Policy (set client_auth_type)")
        }
        guard minVersion <= maxVersion else {
            throw YAMLFields.error(f.fieldPath("min_version"), f.node("min_version"),
                                   "\(minVersion.rawValue) is above max_version \(maxVersion.rawValue)")
        }
        if allowedSANs != nil && clientAuth == .noClientCert {
            notes.append("\(here): client_allowed_sans has no effect with client_auth_type NoClientCert (as in exporter-toolkit)")
        }
        return TLSServerSettings(
            certificate: certificate, key: privateKey, clientCA: clientCA, clientAuth: clientAuth,
            clientAllowedSANs: allowedSANs, minVersion: minVersion, maxVersion: maxVersion, cipherSuites: suites,
            curvePreferences: curves, preferServerCipherSuites: preferServer)
    }

    private static func clientAuth(_ text: String, _ f: YAMLFields) throws(ConfigurationError) -> TLSServerSettings.ClientAuth {
        if text == "RequireClientCert" { return .requireAnyClientCert }  // exporter-toolkit's old alias
        guard let value = TLSServerSettings.ClientAuth(rawValue: text) else {
            let names = TLSServerSettings.ClientAuth.allCases.map(\.rawValue).joined(separator: ", ")
            throw YAMLFields.error(f.fieldPath("client_auth_type"), f.node("client_auth_type"),
                                   "invalid ClientAuth \"\(YAMLFields.excerpt(text))\" (want one of \(names))")
        }
        return value
    }

    static func version(_ key: String, _ f: YAMLFields) throws(ConfigurationError) -> TLSVersion? {
        guard let text = try f.string(key) else { return nil }
        guard let version = TLSVersion(rawValue: text) else {
            throw YAMLFields.error(f.fieldPath(key), f.node(key), "unknown TLS version \"\(YAMLFields.excerpt(text))\" (want TLS10, TLS11, TLS12 or TLS13)")
        }
        return version
    }

    // MARK: http_server_config, basic_auth_users, rate_limit

    private static func headers(_ f: YAMLFields) throws(ConfigurationError) -> [WebConfig.ResponseHeader] {
        try f.check(known: httpKeys)
        if try f.bool("http2") == true {
            throw YAMLFields.error(f.fieldPath("http2"), f.node("http2"),
                                   "\(unsupported) (it serves HTTP/1.1; remove the key or set it to false)")
        }
        let h = try YAMLFields(f.node("headers"), path: f.fieldPath("headers"))
        var result: [WebConfig.ResponseHeader] = []
        for (name, node) in h.pairs {
            guard let allowed = allowedHeaders[name] else {
                throw YAMLFields.error(h.fieldPath(name), node, "HTTP header \"\(YAMLFields.excerpt(name))\" can not be configured (allowed: \(allowedHeaders.keys.sorted().joined(separator: ", ")))")
            }
            let value = try YAMLFields.scalarText(node, path: h.fieldPath(name))
            guard allowed.isEmpty || allowed.contains(value) else {
                throw YAMLFields.error(h.fieldPath(name), node, "invalid value for \(name): expected one of \(allowed.joined(separator: ", ")), got \"\(YAMLFields.excerpt(value))\"")
            }
            guard value.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7f || $0 == 0x09 }) else {
                throw YAMLFields.error(h.fieldPath(name), node, "value contains control characters")
            }
            // The documentation says "unset if blank".
            if !value.isEmpty { result.append(.init(name: name, value: value)) }
        }
        return result
    }

    private static func users(_ f: YAMLFields) throws(ConfigurationError) -> [String: BcryptHash] {
        var users: [String: BcryptHash] = [:]
        for (user, node) in f.pairs {
            let text = try YAMLFields.scalarText(node, path: f.fieldPath(user))
            guard let hash = BcryptHash(text) else {
                throw YAMLFields.error(f.fieldPath(YAMLFields.excerpt(user)), node,
                                       "not a bcrypt hash (want $2a$, $2b$ or $2y$, a cost 04-31 and 53 more characters, e.g. from htpasswd -nBC 10 \"\")")
            }
            users[user] = hash
        }
        return users
    }

    private static func rateLimit(_ f: YAMLFields) throws(ConfigurationError) -> WebConfig.RateLimit? {
        try f.check(known: rateLimitKeys)
        let burst = try f.int("burst") ?? 0
        guard let node = f.node("interval") else { return nil }
        var seconds: Double
        if case .scalar(let scalar) = node, scalar.tag == .int, let nanoseconds = scalar.integer {
            seconds = Double(nanoseconds) / 1e9  // go-yaml v2 reads an integer Duration as nanoseconds
        } else {
            var text = try YAMLFields.scalarText(node, path: f.fieldPath("interval"))
            let negative = text.hasPrefix("-")
            if negative || text.hasPrefix("+") { text.removeFirst() }
            do { seconds = try DurationParser.seconds(text) } catch {
                throw YAMLFields.error(f.fieldPath("interval"), node, error.description)
            }
            if negative { seconds = -seconds }
        }
        // Go's rate.Every(interval <= 0) is an infinite rate: nothing is ever refused.
        return seconds > 0 ? WebConfig.RateLimit(interval: seconds, burst: burst) : nil
    }
}
