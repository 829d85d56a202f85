/// A YAML scalar: its text (escapes and folding done by libyaml), how it was written and its
/// resolved tag. The tag rules are the ones the web config was read with before libyaml was used
/// directly (Yams' default resolver: YAML 1.1's types), so that every file means what it meant:
///
/// - a quoted or block scalar without a tag is a string (`"true"`, `'~'`, `|` blocks);
/// - an untagged plain scalar is a null (`~`, `null`, `Null`, `NULL`, nothing), a boolean
///   (`yes`/`no`/`true`/`false`/`on`/`off` in three casings), an integer (see ``Tag/implicit(_:)``)
///   or anything else;
/// - an explicit tag wins (`!!int "12"` is an integer, `!!null x` a null); `!` means string.
struct YAMLScalar: Sendable {
    /// How the scalar was written; booleans and integers are read from plain scalars only.
    enum Style: Sendable, Equatable {
        case plain, singleQuoted, doubleQuoted, literal, folded
    }

    /// The YAML types the schema walk asks about; strings, floats, timestamps and local tags
    /// (`!mine`) are all `other`, since the walk reads those as text.
    enum Tag: Sendable, Equatable {
        case null, bool, int, other

        /// An explicit tag, as libyaml expands it (`!!int` is `tag:yaml.org,2002:int`).
        init(explicit tag: String) {
            switch tag {
            case "tag:yaml.org,2002:null": self = .null
            case "tag:yaml.org,2002:bool": self = .bool
            case "tag:yaml.org,2002:int": self = .int
            default: self = .other
            }
        }

        /// The type of an untagged plain scalar: YAML 1.1's null and boolean words (without
        /// `y`/`n`, which ``YAMLFields/bool(_:)`` accepts by itself), and its integers: binary
        /// `0b1010`, octal `0o17` or `017`, decimal `0` or `1_000`, hexadecimal `0xff`, base 60
        /// `1:30`, each with an optional sign. Floats (`1.5`, `.inf`) are `other`.
        static func implicit(_ text: String) -> Tag {
            if nullWords.contains(text) { return .null }
            if boolWords.contains(text) { return .bool }
            return isInteger(Array(text.utf8)) ? .int : .other
        }

        static let nullWords: Set<String> = ["", "~", "null", "Null", "NULL"]
        static let boolWords: Set<String> = [
            "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
            "on", "On", "ON", "off", "Off", "OFF",
        ]

        private static func isInteger(_ text: [UInt8]) -> Bool {
            let body = text.first == UInt8(ascii: "-") || text.first == UInt8(ascii: "+") ? text.dropFirst() : text[...]
            func all(_ digits: ArraySlice<UInt8>, _ allowed: String) -> Bool {
                !digits.isEmpty && digits.allSatisfy { allowed.utf8.contains($0) || $0 == UInt8(ascii: "_") }
            }
            let octal = "01234567", decimal = "0123456789"
            if body.starts(with: "0b".utf8) && all(body.dropFirst(2), "01") { return true }
            if body.starts(with: "0x".utf8) && all(body.dropFirst(2), decimal + "abcdefABCDEF") { return true }
            if body.starts(with: "0o".utf8) && all(body.dropFirst(2), octal) { return true }
            if body.first == UInt8(ascii: "0") { return body.count == 1 || all(body.dropFirst(), octal) }
            guard let first = body.first, (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(first) else { return false }
            let parts = body.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            // Base 60: `[1-9][0-9_]*(:[0-5]?[0-9])+`.
            return parts[0].dropFirst().allSatisfy { decimal.utf8.contains($0) || $0 == UInt8(ascii: "_") }
                && parts.dropFirst().allSatisfy { part in
                    part.count == 1 ? decimal.utf8.contains(part[part.startIndex])
                        : part.count == 2 && (UInt8(ascii: "0")...UInt8(ascii: "5")).contains(part[part.startIndex])
                            && decimal.utf8.contains(part[part.startIndex + 1])
                }
        }
    }

    let text: String
    let style: Style
    let tag: Tag
    let mark: YAMLMark

    /// The integer a plain scalar spells, read as the web config always read them (Yams'
    /// `Int.construct`): underscores dropped, a sign, then `0x`, `0b`, `0o` or `0` for the radix,
    /// or base 60 parts with `:`. Nil when it spells none, or one that does not fit in an `Int`.
    var integer: Int? {
        guard style == .plain else { return nil }
        let digits = String(String.UnicodeScalarView(text.unicodeScalars.filter { $0 != "_" }))
        if digits == "0" { return 0 }
        let negative = digits.hasPrefix("-")
        let body = negative || digits.hasPrefix("+") ? digits.dropFirst() : digits[...]
        for (prefix, radix) in [("0x", 16), ("0b", 2), ("0o", 8), ("0", 8)] where body.hasPrefix(prefix) {
            return Int((negative ? "-" : "") + body.dropFirst(prefix.count), radix: radix)
        }
        return body.contains(":") ? Self.sexagesimal(body, negative: negative) : Int(digits)
    }

    /// `1:30:00` is 5400. Parts that are not decimal numbers are skipped, as before.
    private static func sexagesimal(_ body: Substring, negative: Bool) -> Int? {
        var value = 0, base = 1
        let parts = body.unicodeScalars.split(separator: ":", omittingEmptySubsequences: false)
        for part in parts.reversed() {
            guard let digit = Int(String(String.UnicodeScalarView(part)), radix: 10) else { continue }
            let (scaled, overflowA) = digit.multipliedReportingOverflow(by: base)
            let (sum, overflowB) = value.addingReportingOverflow(scaled)
            let (next, overflowC) = base.multipliedReportingOverflow(by: 60)
            guard !overflowA, !overflowB, !overflowC else { return nil }
            (value, base) = (sum, next)
        }
        let (negated, overflow) = 0.subtractingReportingOverflow(value)
        return negative ? (overflow ? nil : negated) : value
    }
}
