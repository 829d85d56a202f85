/// A `--web.listen-address` value: `host:port`, `:port` (every interface), or `[v6host]:port`.
/// Port 0 asks the kernel for a free port; the bound address is logged.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// Host to bind, nil for every interface.
    public var host: String?
    /// TCP port; 0 lets the kernel choose.
    public var port: Int

    /// An address with the given parts.
    public init(host: String?, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `:port` or `[host]:port`.
    public init(parsing text: String) throws(ConfigurationError) {
        let bad = ConfigurationError("invalid listen address \"\(text)\": want host:port, :port or [ipv6]:port")
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw bad }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw bad }
            portText = rest.dropFirst()
            guard !host.isEmpty else { throw bad }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw bad }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            // An unbracketed IPv6 literal is ambiguous.
            guard !host.contains(":") else { throw bad }
        }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(portText), port <= 65535 else { throw bad }
        self.init(host: host.isEmpty ? nil : String(host), port: port)
    }

    /// The flag form: `:port`, `host:port` or `[v6host]:port`.
    public var description: String {
        guard let host else { return ":\(port)" }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// A flag or configuration value that cannot be used; its message is shown as is.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    /// One line saying what is wrong and, where it helps, what to do.
    public var description: String
    /// An error with message `description`.
    public init(_ description: String) { self.description = description }
}
