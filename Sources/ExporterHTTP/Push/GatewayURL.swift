// MARK: - The Pushgateway's address

/// `--gateway`: where the Pushgateway listens, as prometheus_client's `push_to_gateway` takes
/// it: `http://host:port`, `https://host:port`, either with a path prefix (a gateway behind a
/// reverse proxy), or just `host:port` (then `http://`, as Python assumes). IPv6 literals go in
/// brackets. Credentials in the URL, queries and fragments are refused: credentials belong in
/// `--gateway.config.file`, and the path is the gateway's.
public struct GatewayURL: Sendable, Equatable, CustomStringConvertible {
    public let tls: Bool
    /// The host name or address, without brackets.
    public let host: String
    public let port: Int
    /// The path prefix, without a trailing slash (`""` for none).
    public let basePath: String

    public init(parsing text: String) throws(ConfigurationError) {
        func bad(_ why: String) -> ConfigurationError { ConfigurationError("--gateway \(text): \(why)") }
        var rest = Substring(text)
        let separator = Array("://".utf8)
        let bytes = Array(text.utf8)
        if let at = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) {
            switch String(decoding: bytes[..<at], as: UTF8.self).lowercased() {
            case "http": tls = false
            case "https": tls = true
            default: throw bad("the scheme must be http or https")
            }
            rest = Substring(String(decoding: bytes[(at + separator.count)...], as: UTF8.self))
        } else {
            tls = false
        }
        guard !rest.contains("?"), !rest.contains("#") else { throw bad("no query or fragment, please") }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        var path = String(rest[slash...])
        while path.hasSuffix("/") { path.removeLast() }
        basePath = path
        guard !authority.contains("@") else { throw bad("credentials go in --gateway.config.file (basic_auth), not in the URL") }
        let hostPart: Substring
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw bad("an IPv6 address needs its closing ]") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw bad("expected :port after ]") }
                portPart = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        } else {
            hostPart = authority
        }
        guard !hostPart.isEmpty else { throw bad("no host") }
        host = String(hostPart)
        if let portPart {
            guard let port = Int(portPart), (1...65535).contains(port) else { throw bad("the port must be 1 to 65535") }
            self.port = port
        } else {
            port = tls ? 443 : 80
        }
    }

    /// The `Host` header: the host (IPv6 in brackets), and the port unless it is the scheme's.
    public var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (tls ? 443 : 80) ? name : "\(name):\(port)"
    }

    public var description: String { "\(tls ? "https" : "http")://\(hostHeader)\(basePath)" }
}
