import Glibc

// MARK: - Numbers as the text format's Go parser reads them

/// Sample values, `le`/`quantile` bounds and timestamps read exactly as `expfmt.TextParser`
/// (the parser of node_exporter, promtool and the Pushgateway) reads them, so that a file is
/// accepted here if and only if it is accepted there.
///
/// - Floats are Go's `strconv.ParseFloat(s, 64)` without `p`, `P` or `_` (expfmt refuses them):
///   decimal digits with an optional point and exponent, or, ignoring case, `inf`/`infinity`
///   with an optional sign and `nan` without one. A literal beyond the range of a double is an
///   error there (`ErrRange`), so it is here; one below it rounds to zero, as in Go.
/// - Timestamps are `strconv.ParseInt(s, 10, 64)`: an optional sign and decimal digits.
enum GoNumber {

    /// The value of `token`, or nil where Go's parser reports an error.
    static func float(_ token: ArraySlice<UInt8>) -> Double? {
        guard !token.isEmpty else { return nil }
        if let special = special(token) { return special }
        guard isDecimalLiteral(token) else { return nil }
        // strtod on a NUL-terminated copy: glibc rounds correctly, as Go does.
        var text = Array(token)
        text.append(0)
        let value = text.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { strtod($0, nil) }
        }
        return value.isInfinite ? nil : value  // a finite literal that overflowed: ErrRange
    }

    /// `strconv.ParseInt(token, 10, 64)`.
    static func int64(_ token: ArraySlice<UInt8>) -> Int64? {
        var digits = token[...]
        var negative = false
        if let first = digits.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            negative = first == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.allSatisfy(isDigit) else { return nil }
        var magnitude: UInt64 = 0
        for digit in digits {
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            magnitude = sum
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// Go's `special`: `[+-]inf`, `[+-]infinity`, `nan`, any case, and nothing after them.
    private static func special(_ token: ArraySlice<UInt8>) -> Double? {
        var rest = token[...]
        var sign = 1.0
        var signed = false
        if let first = rest.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            sign = first == UInt8(ascii: "-") ? -1 : 1
            signed = true
            rest = rest.dropFirst()
        }
        let lowered = String(decoding: rest.map { $0 | 0x20 }, as: UTF8.self)
        if lowered == "inf" || lowered == "infinity" { return sign * .infinity }
        if !signed, lowered == "nan" { return .nan }
        return nil
    }

    /// `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`
    private static func isDecimalLiteral(_ token: ArraySlice<UInt8>) -> Bool {
        var i = token.startIndex
        let end = token.endIndex
        if i < end, token[i] == UInt8(ascii: "+") || token[i] == UInt8(ascii: "-") { i += 1 }
        var mantissaDigits = 0
        while i < end, isDigit(token[i]) { i += 1; mantissaDigits += 1 }
        if i < end, token[i] == UInt8(ascii: ".") {
            i += 1
            while i < end, isDigit(token[i]) { i += 1; mantissaDigits += 1 }
        }
        guard mantissaDigits > 0 else { return false }
        if i < end, token[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < end, token[i] == UInt8(ascii: "+") || token[i] == UInt8(ascii: "-") { i += 1 }
            var exponentDigits = 0
            while i < end, isDigit(token[i]) { i += 1; exponentDigits += 1 }
            guard exponentDigits > 0 else { return false }
        }
        return i == end
    }

    @inline(__always) private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}
