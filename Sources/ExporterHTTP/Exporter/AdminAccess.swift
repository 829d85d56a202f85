import Glibc
import MultiprocSupport

/// The secret of `--web.admin-token-file`. Never printed: its description is redacted.
public struct AdminToken: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    let bytes: [UInt8]

    /// A token from the contents of a token file: trailing `\n`/`\r` are removed; what remains
    /// must be non-empty and free of whitespace and control characters (it travels in a header).
    public init(fileContents: [UInt8]) throws(ConfigurationError) {
        var bytes = fileContents
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard !bytes.isEmpty else { throw ConfigurationError("admin token file is empty") }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 != 0x7f }) else {
            throw ConfigurationError("admin token contains whitespace or control characters")
        }
        self.bytes = bytes
    }

    /// Reads the token file at `path`.
    public static func load(path: String) throws(ConfigurationError) -> AdminToken {
        let contents: [UInt8]
        do { contents = try FileContents.read(path, limit: 64 * 1024) } catch {
            throw ConfigurationError("cannot read admin token file \(path): \(error)")
        }
        do { return try AdminToken(fileContents: contents) } catch {
            throw ConfigurationError("\(error.description): \(path)")
        }
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }

    /// Compares in time that depends only on the lengths, not on where the bytes differ.
    func matches(_ candidate: some Collection<UInt8>) -> Bool {
        let candidate = Array(candidate)
        var difference = UInt8(truncatingIfNeeded: candidate.count ^ bytes.count)
        if candidate.count != bytes.count { difference |= 1 }
        for i in 0..<bytes.count {
            let other = candidate.isEmpty ? 0 : candidate[i % candidate.count]
            difference |= bytes[i] ^ other
        }
        return difference == 0
    }
}

/// Who may call the admin endpoint.
struct AdminAccess: Sendable {
    enum Decision: Equatable {
        case allowed
        /// 401: a token is configured and was missing or wrong.
        case unauthorized
        /// 403: no token is configured and the client is not trusted.
        case forbidden
    }

    /// When set, every client must send `Authorization: Bearer <token>`.
    let token: AdminToken?
    /// Without a token: which peers may call (loopback only by default).
    let trustsPeer: @Sendable (PeerAddress?) -> Bool

    func decide(_ request: HTTPRequest) -> Decision {
        if let token {
            guard let credentials = Self.bearerCredentials(request.headers["Authorization"]) else { return .unauthorized }
            return token.matches(credentials.utf8) ? .allowed : .unauthorized
        }
        return trustsPeer(request.peer) ? .allowed : .forbidden
    }

    /// The credentials of `Bearer <credentials>` (scheme case-insensitive), or nil.
    static func bearerCredentials(_ header: String?) -> Substring? {
        guard let header else { return nil }
        let trimmed = header.drop { $0 == " " || $0 == "\t" }
        guard let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }),
              asciiCaseInsensitiveEquals(String(trimmed[..<space]), "Bearer") else { return nil }
        var credentials = trimmed[space...].drop { $0 == " " || $0 == "\t" }
        while let last = credentials.last, last == " " || last == "\t" { credentials.removeLast() }
        return credentials.isEmpty ? nil : credentials
    }
}
