import CCrypt
import Glibc

/// A bcrypt hash from `basic_auth_users`: `$2a$`, `$2b$` or `$2y$`, a two-digit cost 04–31, then
/// 22 characters of salt and 31 of checksum in bcrypt's base64. Never printed (it is a secret in
/// exporter-toolkit too): its description is redacted.
public struct BcryptHash: Sendable, Hashable, CustomStringConvertible {
    /// The hash text, exactly as configured.
    let text: String
    /// Its bytes (ASCII), as the credential cache hashes them.
    var bytes: [UInt8] { Array(text.utf8) }
    /// The cost (log2 of the rounds).
    public let cost: Int

    /// The hash in `text`, or nil when it is not a bcrypt hash of a kind libxcrypt and Go both check.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 60, bytes[0] == UInt8(ascii: "$"), bytes[1] == UInt8(ascii: "2"),
              [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(bytes[2]),
              bytes[3] == UInt8(ascii: "$"), bytes[6] == UInt8(ascii: "$"),
              let tens = Self.digit(bytes[4]), let ones = Self.digit(bytes[5]),
              (4...31).contains(tens * 10 + ones),
              bytes[7...].allSatisfy(Self.isBase64)
        else { return nil }
        self.text = text
        cost = tens * 10 + ones
    }

    public var description: String { "<redacted bcrypt hash, cost \(cost)>" }

    // MARK: Checking a password

    /// Whether `password` hashes to this hash, with libxcrypt's `crypt_r`. Blocks for the whole
    /// bcrypt computation (tens of milliseconds at cost 10): never call it on the event loop.
    ///
    /// A password holding a NUL byte never matches: `crypt_r` would stop at the NUL, so
    /// `secret\0anything` would pass for `secret`, and Go's bcrypt (exporter-toolkit) refuses it.
    func matches(password: [UInt8]) -> Bool {
        guard !password.contains(0) else { return false }
        guard let computed = Self.crypt(password: password, setting: text) else { return false }
        return Self.constantTimeEquals(Array(computed.utf8), Array(text.utf8))
    }

    /// A fresh `$2b$` hash of `password` at `cost` (random salt from the system).
    static func make(password: [UInt8], cost: Int) -> BcryptHash? {
        var setting = [CChar](repeating: 0, count: 64)
        guard crypt_gensalt_rn("$2b$", UInt(cost), nil, 0, &setting, Int32(setting.count)) != nil else { return nil }
        let settingText = String(decoding: setting.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return crypt(password: password, setting: settingText).flatMap(BcryptHash.init)
    }

    private static func crypt(password: [UInt8], setting: String) -> String? {
        // struct crypt_data is 32 KiB: on the heap, not a worker's stack.
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer {
            memset(data, 0, MemoryLayout<crypt_data>.size)  // it held the password
            data.deallocate()
        }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        let result = (password.map { CChar(bitPattern: $0) } + [0]).withUnsafeBufferPointer { phrase in
            crypt_r(phrase.baseAddress, setting, data)
        }
        guard let result, result.pointee != CChar(UInt8(ascii: "*")) else { return nil }  // "*0"/"*1": failure
        return String(cString: result)
    }

    private static func digit(_ byte: UInt8) -> Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? Int(byte - UInt8(ascii: "0")) : nil
    }

    private static func isBase64(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"): true
        default: false
        }
    }

    /// Equal lengths compared in time independent of where the bytes differ.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
