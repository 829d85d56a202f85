// MARK: - Metric and label name escaping (prometheus_client.openmetrics.exposition)

/// How metric and label names outside the legacy character set are written, as negotiated by
/// the `escaping=` parameter of the `Accept` header.
public enum EscapingScheme: String, Sendable, CaseIterable {
    /// Names are written as they are, quoted when they are not legacy names.
    case allowUTF8 = "allow-utf-8"
    /// Every character outside the legacy set becomes `_`.
    case underscores
    /// `_` → `__`, `.` → `_dot_`, other invalid characters → `__` (always applied).
    case dots
    /// `U__` prefix, `_` → `__`, other invalid characters → `_<hex code point>_`.
    case values
}

/// Name checks and escapes, byte-for-byte as prometheus_client 0.26.0 does them.
///
/// Python iterates names by code point and matches the legacy patterns with `re.match(…$)`,
/// whose `$` also matches before one final newline; both quirks are kept so output stays
/// identical for any name a file can hold.
enum NameEscaping {

    /// `^[a-zA-Z_:][a-zA-Z0-9_:]*$` as Python's `re.match` applies it.
    static func isLegacyMetricName(_ name: String) -> Bool {
        matchesLegacyPattern(name.utf8, allowColon: true)
    }

    /// `^[a-zA-Z_][a-zA-Z0-9_]*$` and not reserved (`^__`), as Python applies them.
    static func isLegacyLabelName(_ name: String) -> Bool {
        guard matchesLegacyPattern(name.utf8, allowColon: false) else { return false }
        var it = name.utf8.makeIterator()
        return !(it.next() == UInt8(ascii: "_") && it.next() == UInt8(ascii: "_"))
    }

    private static func matchesLegacyPattern(_ bytes: String.UTF8View, allowColon: Bool) -> Bool {
        var count = bytes.count
        if count == 0 { return false }
        // Python's `$` matches before a single trailing newline.
        if bytes.last == UInt8(ascii: "\n") { count -= 1 }
        if count == 0 { return false }
        var index = 0
        for byte in bytes {
            if index == count { break }
            let ok = isASCIILetter(byte) || byte == UInt8(ascii: "_") || (allowColon && byte == UInt8(ascii: ":"))
                || (index > 0 && isASCIIDigit(byte))
            if !ok { return false }
            index += 1
        }
        return true
    }

    @inline(__always) static func isASCIILetter(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
    }

    @inline(__always) static func isASCIIDigit(_ b: UInt8) -> Bool {
        b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")
    }

    /// `_is_legacy_labelname_rune` / `_is_legacy_metric_rune` for a code point at index `i`.
    @inline(__always) static func isLegacyRune(_ c: Unicode.Scalar, at i: Int, allowColon: Bool) -> Bool {
        let v = c.value
        if v >= 0x80 { return false }
        let b = UInt8(v)
        return isASCIILetter(b) || b == UInt8(ascii: "_") || (i > 0 && isASCIIDigit(b))
            || (allowColon && b == UInt8(ascii: ":"))
    }

    // MARK: Escapes

    /// `_escape(s, ALLOWUTF8, …)`: backslash, newline and double quote are backslash-escaped.
    static func appendQuotedEscape(_ s: String, to out: inout [UInt8]) {
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "\n"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\""))
            default: out.append(b)
            }
        }
    }

    /// `# HELP` text in the Prometheus text format: only backslash and newline are escaped.
    static func appendTextHelp(_ s: String, to out: inout [UInt8]) {
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "\n"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            default: out.append(b)
            }
        }
    }

    /// `_escape(s, escaping, rune_fn)` for any scheme.
    static func appendEscape(_ s: String, scheme: EscapingScheme, allowColon: Bool, to out: inout [UInt8]) {
        switch scheme {
        case .allowUTF8:
            appendQuotedEscape(s, to: &out)
        case .underscores:
            for (i, c) in s.unicodeScalars.enumerated() {
                if isLegacyRune(c, at: i, allowColon: allowColon) { out.append(UInt8(c.value)) } else { out.append(UInt8(ascii: "_")) }
            }
        case .dots:
            for (i, c) in s.unicodeScalars.enumerated() {
                if c == "_" {
                    out.append(UInt8(ascii: "_")); out.append(UInt8(ascii: "_"))
                } else if c == "." {
                    out.append(contentsOf: dotBytes)
                } else if isLegacyRune(c, at: i, allowColon: allowColon) {
                    out.append(UInt8(c.value))
                } else {
                    out.append(UInt8(ascii: "_")); out.append(UInt8(ascii: "_"))
                }
            }
        case .values:
            out.append(contentsOf: valuesPrefix)
            for (i, c) in s.unicodeScalars.enumerated() {
                if c == "_" {
                    out.append(UInt8(ascii: "_")); out.append(UInt8(ascii: "_"))
                } else if isLegacyRune(c, at: i, allowColon: allowColon) {
                    out.append(UInt8(c.value))
                } else {
                    // Swift strings hold no surrogates, so Python's `_FFFD_` branch cannot occur.
                    out.append(UInt8(ascii: "_"))
                    out.append(contentsOf: Array(String(c.value, radix: 16).utf8))
                    out.append(UInt8(ascii: "_"))
                }
            }
        }
    }

    private static let dotBytes = Array("_dot_".utf8)
    private static let valuesPrefix = Array("U__".utf8)

    /// `escape_metric_name(s, escaping)`.
    static func appendMetricName(_ s: String, scheme: EscapingScheme, to out: inout [UInt8]) {
        appendName(s, scheme: scheme, isLegacy: isLegacyMetricName(s), allowColon: true, to: &out)
    }

    /// `escape_label_name(s, escaping)`.
    static func appendLabelName(_ s: String, scheme: EscapingScheme, to out: inout [UInt8]) {
        appendName(s, scheme: scheme, isLegacy: isLegacyLabelName(s), allowColon: false, to: &out)
    }

    private static func appendName(_ s: String, scheme: EscapingScheme, isLegacy: Bool, allowColon: Bool, to out: inout [UInt8]) {
        if s.isEmpty { return }
        switch scheme {
        case .allowUTF8:
            if isLegacy {
                appendQuotedEscape(s, to: &out)
            } else {
                out.append(UInt8(ascii: "\""))
                appendQuotedEscape(s, to: &out)
                out.append(UInt8(ascii: "\""))
            }
        case .underscores, .values:
            if isLegacy { out.append(contentsOf: s.utf8) } else { appendEscape(s, scheme: scheme, allowColon: allowColon, to: &out) }
        case .dots:
            appendEscape(s, scheme: scheme, allowColon: allowColon, to: &out)
        }
    }
}
