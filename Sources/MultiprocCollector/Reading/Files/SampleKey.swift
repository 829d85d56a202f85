// MARK: - The JSON key of one entry

/// One label of a sample: a name and a value, both any UTF-8.
public struct Label: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public var description: String { "\(name)=\(value)" }
}

/// The decoded key of one entry: `[metric_name, sample_name, {labels}, help_text]`, or one of
/// the older ``KeyShape``s read as if it had been written that way (HELP
/// ``multiprocessHelp`` when the key has none).
///
/// Labels are sorted by name in code point order (UTF-8 byte order), as Python's
/// `sorted(labels.items())` sorts them.
struct SampleKey: Hashable, Sendable {
    var metricName: String
    var sampleName: String
    var labels: [Label]
    var help: String
}

/// Why a key could not be decoded. Each case is a stable reason string for logs and metrics.
enum KeyDecodingError: Error, Equatable {
    case invalidUTF8
    case invalidJSON(String)
    case unexpectedShape(String)
    case unsupportedString(String)

    var reason: FileProblem.Reason {
        switch self {
        case .invalidUTF8: return .invalidUTF8Key
        case .invalidJSON: return .invalidJSONKey
        case .unexpectedShape, .unsupportedString: return .unexpectedKeyShape
        }
    }

    var detail: String {
        switch self {
        case .invalidUTF8: return "key is not valid UTF-8"
        case .invalidJSON(let why): return "key is not valid JSON: \(why)"
        case .unexpectedShape(let why): return "key is not [metric, sample, {labels}, help] nor an older shape: \(why)"
        case .unsupportedString(let why): return "key holds a string Python could not render: \(why)"
        }
    }
}

extension SampleKey {

    /// Decodes a key in today's shape (``KeyShape/labelsAndHelp``); any other shape is an
    /// ``KeyDecodingError/unexpectedShape(_:)``. Never traps on any input.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(KeyDecodingError) -> SampleKey {
        let (key, shape) = try decodeAnyShape(bytes)
        guard shape == .labelsAndHelp else { throw .unexpectedShape("a key of shape \(shape.spelled)") }
        return key
    }

    /// Decodes a key as prometheus_client does (`bytes.decode('utf-8')` then `json.loads`, strict),
    /// and says which ``KeyShape`` it has; anything else is an error. Never traps on any input.
    static func decodeAnyShape(_ bytes: UnsafeRawBufferPointer) throws(KeyDecodingError) -> (SampleKey, KeyShape) {
        // Python's writer escapes everything to ASCII; other bytes must still be valid UTF-8.
        var ascii = true
        for b in bytes where b >= 0x80 { ascii = false; break }
        if !ascii, String(validating: bytes, as: UTF8.self) == nil { throw .invalidUTF8 }

        // Fast path for the shape every writer produces; anything unexpected (including every
        // error) is settled by the general parser below, which decides what Python would say.
        var fast = JSONParser(bytes: bytes)
        if let decoded = fast.parseKeyShape() { return decoded }

        var parser = JSONParser(bytes: bytes)
        let value = try parser.parseDocument()
        guard case .array(let items) = value else { throw .unexpectedShape("not an array") }
        guard items.count == 3 || items.count == 4 else { throw .unexpectedShape("array of \(items.count) elements") }
        guard case .string(let metricName) = items[0] else { throw .unexpectedShape("metric name is not a string") }
        guard case .string(let sampleName) = items[1] else { throw .unexpectedShape("sample name is not a string") }
        // prometheus_client refuses an empty metric name (`Metric()` raises).
        guard !metricName.isEmpty else { throw .unexpectedShape("empty metric name") }
        let labels: [Label], help: String, shape: KeyShape
        switch (items[2], items.count == 4 ? items[3] : nil) {
        case (.object(let members), .string(let text)?):
            (labels, help, shape) = (try strings(members), text, .labelsAndHelp)
        case (.object(let members), nil):
            (labels, help, shape) = (try strings(members), multiprocessHelp, .labelsWithoutHelp)
        case (.array(let names), .array(let values)?):
            (labels, help, shape) = (try zipped(names, values), multiprocessHelp, .labelLists)
        case (.object, _): throw .unexpectedShape("help is not a string")
        default: throw .unexpectedShape("labels are neither an object nor two lists")
        }
        return (SampleKey(metricName: metricName, sampleName: sampleName, labels: sortedUnique(labels), help: help), shape)
    }

    private static func strings(_ members: [(String, JSONParser.Value)]) throws(KeyDecodingError) -> [Label] {
        var labels: [Label] = []
        for (name, member) in members {
            guard case .string(let labelValue) = member else { throw .unexpectedShape("label \(name) is not a string") }
            labels.append(Label(name: name, value: labelValue))
        }
        return labels
    }

    /// The labels of a key from before 0.4: `zip(labelnames, labelvalues)`. Writers always
    /// stored lists of equal length; anything else is refused rather than truncated.
    private static func zipped(_ names: [JSONParser.Value], _ values: [JSONParser.Value]) throws(KeyDecodingError) -> [Label] {
        guard names.count == values.count else {
            throw .unexpectedShape("\(names.count) label names but \(values.count) label values")
        }
        var labels: [Label] = []
        for (name, value) in zip(names, values) {
            guard case .string(let n) = name, case .string(let v) = value else { throw .unexpectedShape("a label name or value is not a string") }
            labels.append(Label(name: n, value: v))
        }
        return labels
    }

    /// Labels sorted by name (code points), later duplicates winning, as a Python dict of
    /// them would iterate after `sorted()`.
    static func sortedUnique(_ labels: [Label]) -> [Label] {
        if labels.count < 2 { return labels }
        // Stable sort, then keep the last of each run of equal names.
        let sorted = labels.enumerated().sorted { a, b in
            let byName = a.element.name.exactCompare(b.element.name)
            return byName != 0 ? byName < 0 : a.offset < b.offset
        }.map(\.element)
        var out: [Label] = []
        out.reserveCapacity(sorted.count)
        for label in sorted {
            if let last = out.last, last.name.exactlyEquals(label.name) { out[out.count - 1] = label } else { out.append(label) }
        }
        return out
    }
}

// MARK: - A strict JSON parser with Python's `json.loads` acceptance rules

/// Parses exactly what Python's `json.loads` (strict mode) accepts, including `NaN` and
/// `Infinity` literals, and rejects lone surrogates (Python would accept them, then fail to
/// encode the scrape).
struct JSONParser {
    enum Value {
        case string(String)
        case number
        case literal
        case array([Value])
        case object([(String, Value)])
    }

    private let bytes: UnsafeRawBufferPointer
    private var pos = 0
    private static let maxDepth = 64

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// `[string, string, {string: string, …}, string]` or the same without help (JSON
    /// whitespace allowed) straight into a key, without building a value tree. Nil on
    /// anything else, errors included.
    mutating func parseKeyShape() -> (SampleKey, KeyShape)? {
        func expect(_ byte: UInt8) -> Bool {
            skipWhitespace()
            guard peek() == byte else { return false }
            pos += 1
            return true
        }
        func string() -> String? {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { return nil }
            return try? parseString()
        }
        guard expect(UInt8(ascii: "[")), let metricName = string(), !metricName.isEmpty, expect(UInt8(ascii: ",")),
              let sampleName = string(), expect(UInt8(ascii: ",")), expect(UInt8(ascii: "{")) else { return nil }
        var labels: [Label] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            pos += 1
        } else {
            while true {
                guard let name = string(), expect(UInt8(ascii: ":")), let value = string() else { return nil }
                labels.append(Label(name: name, value: value))
                skipWhitespace()
                guard let c = peek() else { return nil }
                pos += 1
                if c == UInt8(ascii: "}") { break }
                guard c == UInt8(ascii: ",") else { return nil }
            }
        }
        let help: String, shape: KeyShape
        if expect(UInt8(ascii: "]")) {
            (help, shape) = (SampleKey.multiprocessHelp, .labelsWithoutHelp)
        } else {
            guard expect(UInt8(ascii: ",")), let text = string(), expect(UInt8(ascii: "]")) else { return nil }
            (help, shape) = (text, .labelsAndHelp)
        }
        skipWhitespace()
        guard pos == bytes.count else { return nil }
        return (SampleKey(metricName: metricName, sampleName: sampleName, labels: SampleKey.sortedUnique(labels), help: help), shape)
    }

    mutating func parseDocument() throws(KeyDecodingError) -> Value {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard pos == bytes.count else { throw .invalidJSON("extra data at byte \(pos)") }
        return value
    }

    private mutating func skipWhitespace() {
        while pos < bytes.count {
            let b = bytes[pos]
            guard b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D else { return }
            pos += 1
        }
    }

    private func peek() -> UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private mutating func parseValue(depth: Int) throws(KeyDecodingError) -> Value {
        guard depth < Self.maxDepth else { throw .invalidJSON("nested too deeply") }
        guard let b = peek() else { throw .invalidJSON("unexpected end") }
        switch b {
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "["):
            pos += 1
            var items: [Value] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard let c = peek() else { throw .invalidJSON("unterminated array") }
                pos += 1
                if c == UInt8(ascii: "]") { return .array(items) }
                guard c == UInt8(ascii: ",") else { throw .invalidJSON("expected , or ] at byte \(pos - 1)") }
            }
        case UInt8(ascii: "{"):
            pos += 1
            var members: [(String, Value)] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "}") { pos += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw .invalidJSON("expected a string key at byte \(pos)") }
                let name = try parseString()
                skipWhitespace()
                guard peek() == UInt8(ascii: ":") else { throw .invalidJSON("expected : at byte \(pos)") }
                pos += 1
                skipWhitespace()
                members.append((name, try parseValue(depth: depth + 1)))
                skipWhitespace()
                guard let c = peek() else { throw .invalidJSON("unterminated object") }
                pos += 1
                if c == UInt8(ascii: "}") { return .object(members) }
                guard c == UInt8(ascii: ",") else { throw .invalidJSON("expected , or } at byte \(pos - 1)") }
            }
        default:
            for literal in Self.literals where matches(literal) {
                pos += literal.count
                return .literal
            }
            try parseNumber()
            return .number
        }
    }

    private static let literals: [[UInt8]] = ["true", "false", "null", "NaN", "Infinity", "-Infinity"].map { Array($0.utf8) }

    private func matches(_ literal: [UInt8]) -> Bool {
        guard bytes.count - pos >= literal.count else { return false }
        for (i, b) in literal.enumerated() where bytes[pos + i] != b { return false }
        return true
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`
    private mutating func parseNumber() throws(KeyDecodingError) {
        let start = pos
        if peek() == UInt8(ascii: "-") { pos += 1 }
        guard let first = peek(), NameEscaping.isASCIIDigit(first) else { throw .invalidJSON("unexpected byte at \(start)") }
        pos += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek() == UInt8(ascii: "."), pos + 1 < bytes.count, NameEscaping.isASCIIDigit(bytes[pos + 1]) {
            pos += 1
            skipDigits()
        }
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            var p = pos + 1
            if p < bytes.count, bytes[p] == UInt8(ascii: "+") || bytes[p] == UInt8(ascii: "-") { p += 1 }
            if p < bytes.count, NameEscaping.isASCIIDigit(bytes[p]) {
                pos = p
                skipDigits()
            }
        }
    }

    private mutating func skipDigits() {
        while let b = peek(), NameEscaping.isASCIIDigit(b) { pos += 1 }
    }

    private mutating func parseString() throws(KeyDecodingError) -> String {
        pos += 1  // opening quote
        // Fast path: no escapes.
        let start = pos
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
                pos += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw .invalidJSON("control character in string at byte \(pos)") }
            pos += 1
        }
        var out = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<pos]))
        while pos < bytes.count {
            let b = bytes[pos]
            pos += 1
            if b == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            if b < 0x20 { throw .invalidJSON("control character in string at byte \(pos - 1)") }
            guard b == UInt8(ascii: "\\") else { out.append(b); continue }
            guard let e = peek() else { break }
            pos += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if (0xD800...0xDBFF).contains(code) {
                    // A high surrogate combines with an immediately following \uDC00-\uDFFF.
                    guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw .unsupportedString("lone surrogate \\u\(String(code, radix: 16))")
                    }
                    let save = pos
                    pos += 2
                    let low = try parseHex4()
                    guard (0xDC00...0xDFFF).contains(low) else {
                        pos = save
                        throw .unsupportedString("lone surrogate \\u\(String(code, radix: 16))")
                    }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(code) {
                    throw .unsupportedString("lone surrogate \\u\(String(code, radix: 16))")
                }
                guard let scalar = Unicode.Scalar(code) else { throw .unsupportedString("invalid code point") }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw .invalidJSON("invalid escape at byte \(pos - 2)")
            }
        }
        throw .invalidJSON("unterminated string")
    }

    private mutating func parseHex4() throws(KeyDecodingError) -> UInt32 {
        guard bytes.count - pos >= 4 else { throw .invalidJSON("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw .invalidJSON("invalid \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }
}
