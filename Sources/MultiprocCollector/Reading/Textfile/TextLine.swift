// MARK: - The tokens of one line of the text format

/// A cursor over one line of a textfile (its bytes up to, not including, the newline), with
/// the token readers of `expfmt.TextParser` ported one by one: the same bytes end a token, the
/// same escapes are accepted, so acceptance agrees with the Go parser (see ``TextFormatParser``).
struct TextLine {
    let bytes: [UInt8]
    /// The next byte to read; `end` when the line is used up.
    var index: Int
    /// Index of the newline (or of the end of the file when the last line has none).
    let end: Int
    /// 1-based, for messages.
    let number: Int

    var atEnd: Bool { index == end }
    var current: UInt8 { bytes[index] }

    mutating func skipBlanks() {
        while index < end, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 }
    }

    var atBlank: Bool { !atEnd && (current == UInt8(ascii: " ") || current == UInt8(ascii: "\t")) }

    /// `readTokenUntilWhitespace`: up to the next blank, tab or the end of the line.
    mutating func tokenUntilBlank() -> ArraySlice<UInt8> {
        let start = index
        while index < end, bytes[index] != UInt8(ascii: " "), bytes[index] != UInt8(ascii: "\t") { index += 1 }
        return bytes[start..<index]
    }

    /// The rest of the line, unread.
    mutating func rest() -> ArraySlice<UInt8> {
        defer { index = end }
        return bytes[index..<end]
    }

    /// `readTokenUntilNewline(true)`: HELP text, with `\\`, `\n` and `\"` unescaped.
    mutating func helpText() throws(TextFormatError) -> String {
        var text: [UInt8] = []
        while index < end {
            var byte = bytes[index]
            if byte == UInt8(ascii: "\\") {
                index += 1
                guard index < end else { throw error("invalid escape sequence at the end of the line") }
                byte = try unescape(bytes[index], allowQuote: true)
            }
            text.append(byte)
            index += 1
        }
        return try string(text, what: "HELP text")
    }

    /// `readTokenAsMetricName`: a legacy name, or one in double quotes with escapes. Empty when
    /// the line does not start one here (the caller reports that in its own words).
    mutating func metricName() throws(TextFormatError) -> String {
        try name(isStart: Self.isMetricNameStart, isContinuation: Self.isMetricNameContinuation, stopUnquotedAt: UInt8(ascii: " "))
    }

    /// `readTokenAsLabelName`: the same for a label name, which ends unquoted at `=`.
    mutating func labelName() throws(TextFormatError) -> String {
        try name(isStart: Self.isLabelNameStart, isContinuation: Self.isLabelNameContinuation, stopUnquotedAt: UInt8(ascii: "="))
    }

    /// `readTokenAsLabelValue`, the opening quote already read: up to the closing quote,
    /// with `\"`, `\\` and `\n` unescaped.
    mutating func labelValue() throws(TextFormatError) -> String {
        var value: [UInt8] = []
        while true {
            guard index < end else { throw error("label value is not closed before the end of the line") }
            var byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\"") { return try string(value, what: "label value") }
            if byte == UInt8(ascii: "\\") {
                guard index < end else { throw error("label value is not closed before the end of the line") }
                byte = try unescape(bytes[index], allowQuote: true)
                index += 1
            }
            value.append(byte)
        }
    }

    func error(_ message: String) -> TextFormatError {
        TextFormatError(line: number, message: message)
    }

    // MARK: Names

    /// The loop both Go name readers share: a quote toggles quoting anywhere in the token,
    /// a backslash escapes the next byte, and the token ends at the first byte that cannot
    /// continue it (unquoted: also at `stop`).
    private mutating func name(isStart: (UInt8) -> Bool, isContinuation: (UInt8, Bool) -> Bool,
                               stopUnquotedAt stop: UInt8) throws(TextFormatError) -> String {
        var token: [UInt8] = []
        guard index < end, isStart(current) else { return "" }
        var quoted = false
        var escaped = false
        while true {
            let byte = current
            if escaped {
                token.append(try unescape(byte, allowQuote: true))
                escaped = false
            } else if byte == UInt8(ascii: "\"") {
                quoted.toggle()
                if !quoted {
                    index += 1
                    return try string(token, what: "name")
                }
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else {
                token.append(byte)
            }
            index += 1
            if index == end {
                if quoted || escaped { throw error("quoted name is not closed before the end of the line") }
                return try string(token, what: "name")
            }
            if !isContinuation(current, quoted) || (!quoted && current == stop) { return try string(token, what: "name") }
        }
    }

    private func unescape(_ byte: UInt8, allowQuote: Bool) throws(TextFormatError) -> UInt8 {
        switch byte {
        case UInt8(ascii: "\\"): return byte
        case UInt8(ascii: "n"): return UInt8(ascii: "\n")
        case UInt8(ascii: "\"") where allowQuote: return byte
        default: throw error("invalid escape sequence '\\\(Character(Unicode.Scalar(byte)))'")
        }
    }

    /// Text that is not UTF-8 cannot be served (Go refuses it in label values and names; a
    /// Swift `String` would repair it, which would change the data).
    private func string(_ bytes: [UInt8], what: String) throws(TextFormatError) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw error("\(what) is not valid UTF-8") }
        return text
    }

    static func isLabelNameStart(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || b == UInt8(ascii: "_") || b == UInt8(ascii: "\"")
    }

    /// Quoted, any byte continues a name (Go checks `utf8.ValidString(string(b))`, true for every byte).
    static func isLabelNameContinuation(_ b: UInt8, quoted: Bool) -> Bool {
        quoted || isLabelNameStart(b) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
    }

    static func isMetricNameStart(_ b: UInt8) -> Bool { isLabelNameStart(b) || b == UInt8(ascii: ":") }

    static func isMetricNameContinuation(_ b: UInt8, quoted: Bool) -> Bool {
        isLabelNameContinuation(b, quoted: quoted) || b == UInt8(ascii: ":")
    }
}

/// Why a textfile is not the text format, at which line.
struct TextFormatError: Error, Equatable, CustomStringConvertible {
    /// 1-based line number.
    let line: Int
    let message: String

    var description: String { "line \(line): \(message)" }
}
