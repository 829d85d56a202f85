/// Base64 encoding with padding (RFC 4648): the standard alphabet for `Authorization: Basic`,
/// the URL-safe one (`-`, `_`) for the Pushgateway's `@base64` grouping values, as Python's
/// `base64.urlsafe_b64encode` writes them.
enum Base64 {
    static func encode(_ bytes: [UInt8], urlSafe: Bool = false) -> String {
        let alphabet = urlSafe ? urlSafeAlphabet : standardAlphabet
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var bits: UInt32 = 0
            for (offset, byte) in chunk.enumerated() { bits |= UInt32(byte) << (16 - 8 * UInt32(offset)) }
            // 2, 3 or 4 symbols carry 1, 2 or 3 bytes; `=` pads to 4.
            for position in 0..<4 {
                out.append(position <= chunk.count ? alphabet[Int((bits >> (18 - 6 * UInt32(position))) & 63)] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let standardAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlSafeAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
}
