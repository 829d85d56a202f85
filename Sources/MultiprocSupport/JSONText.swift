/// JSON string literals (RFC 8259 §7), as Python's `json.dumps` writes them.
package enum JSONText {
    /// `s` quoted: `"` and `\\` and the usual control escapes, other control characters as
    /// `\uXXXX`; with `asciiOnly` (Python's default `ensure_ascii`) every character past
    /// `~` too, astral ones as surrogate pairs.
    package static func quoted(_ s: String, asciiOnly: Bool = true) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20 || (asciiOnly && scalar.value > 0x7E):
                for unit in String(scalar).utf16 {
                    let hex = String(unit, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
