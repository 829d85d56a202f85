/// The user and password of an `Authorization: Basic …` header, read exactly as Go's
/// `Request.BasicAuth()` reads it (exporter-toolkit's check): the scheme `Basic` in any case
/// followed by one space, then standard base64 with padding (line breaks skipped, trailing bits
/// not checked), split at the first `:`. Anything else is "no credentials".
public struct BasicAuthCredentials: Sendable, Equatable {
    /// The user name's bytes (compared byte for byte with the configured names).
    public var user: [UInt8]
    /// The password's bytes.
    public var password: [UInt8]

    /// The credentials in `header`, or nil when it is missing or not well-formed Basic credentials.
    public init?(header: String?) {
        guard let header else { return nil }
        let bytes = Array(header.utf8)
        let prefix = Array("basic ".utf8)
        guard bytes.count >= prefix.count,
              zip(bytes.prefix(prefix.count), prefix).allSatisfy({ asciiLower($0) == $1 }),
              let decoded = Self.base64Decode(bytes[prefix.count...]),
              let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        user = Array(decoded[..<colon])
        password = Array(decoded[(colon + 1)...])
    }

    /// Go's `base64.StdEncoding.DecodeString`: `\r` and `\n` are skipped, the length without them
    /// must be a multiple of 4, `=` only as one or two final padding characters.
    static func base64Decode(_ input: ArraySlice<UInt8>) -> [UInt8]? {
        let symbols = input.filter { $0 != 0x0d && $0 != 0x0a }
        guard symbols.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(symbols.count / 4 * 3)
        var index = 0
        while index < symbols.count {
            let quantum = symbols[index..<(index + 4)]
            let isLast = index + 4 == symbols.count
            let padding = quantum.reversed().prefix { $0 == UInt8(ascii: "=") }.count
            guard padding <= 2, isLast || padding == 0 else { return nil }
            var bits: UInt32 = 0
            for symbol in quantum.prefix(4 - padding) {
                guard let value = sextet(symbol) else { return nil }
                bits = bits << 6 | UInt32(value)
            }
            bits <<= UInt32(6 * padding)
            let bytes = [UInt8(truncatingIfNeeded: bits >> 16), UInt8(truncatingIfNeeded: bits >> 8), UInt8(truncatingIfNeeded: bits)]
            output.append(contentsOf: bytes.prefix(3 - padding))
            index += 4
        }
        return output
    }

    private static func sextet(_ symbol: UInt8) -> UInt8? {
        switch symbol {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): symbol - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): symbol - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): symbol - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
