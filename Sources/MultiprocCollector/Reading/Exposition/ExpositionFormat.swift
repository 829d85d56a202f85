// MARK: - Exposition formats and content negotiation

/// One exposition format: the syntax, the name escaping and the `Content-Type` that announces it.
///
/// Obtain one with ``ExpositionFormat/negotiate(accept:)``, which mirrors prometheus_client's
/// `choose_encoder` case by case.
public struct ExpositionFormat: Hashable, Sendable, CustomStringConvertible {

    /// The two syntaxes prometheus_client writes.
    public enum Syntax: Hashable, Sendable {
        /// `generate_latest`: the Prometheus text format (0.0.4 and 1.0.0 share it).
        case prometheusText
        /// `openmetrics.generate_latest`: OpenMetrics text, terminated by `# EOF`.
        case openMetrics
    }

    public let syntax: Syntax
    public let escaping: EscapingScheme
    /// The `Content-Type` header value prometheus_client sends with this body.
    public let contentType: String

    public init(syntax: Syntax, escaping: EscapingScheme, contentType: String) {
        self.syntax = syntax
        self.escaping = escaping
        self.contentType = contentType
    }

    public var description: String { contentType }

    /// `text/plain; version=0.0.4; charset=utf-8` with underscore escaping: what is served when
    /// the `Accept` header asks for nothing better.
    public static let prometheusText004 = ExpositionFormat(
        syntax: .prometheusText, escaping: .underscores,
        contentType: "text/plain; version=0.0.4; charset=utf-8")

    /// The bytes that end a body in this format (`# EOF\n` for OpenMetrics, nothing otherwise).
    public var trailer: [UInt8] { syntax == .openMetrics ? Array("# EOF\n".utf8) : [] }

    /// Chooses the format for an `Accept` header exactly as prometheus_client 0.26.0's
    /// `choose_encoder` does:
    /// - media ranges are taken in order and the first acceptable one wins; q-values are not weighed;
    /// - `application/openmetrics-text` without `version` gives OpenMetrics 1.0.0 with underscores
    ///   (and a content type without `escaping`); with a version ≥ 1.0.0 it gives OpenMetrics with
    ///   that version and the requested escaping; below 1.0.0 it is passed over;
    /// - `text/plain` with a version ≥ 1.0.0 gives the text format with the requested escaping and
    ///   content type `text/plain; version=1.0.0; charset=utf-8; escaping=…`; otherwise passed over;
    /// - nothing acceptable: ``prometheusText004``.
    ///
    /// One deliberate difference: a version Python cannot compare (`1.0.0-rc`) raises a
    /// `TypeError` there (an HTTP 500); here that media range is passed over.
    public static func negotiate(accept: String?) -> ExpositionFormat {
        guard let accept else { return .prometheusText004 }
        // Split on code points, as Python does (a `Character` split would keep "," + combining mark).
        for accepted in accept.unicodeScalars.split(separator: ",", omittingEmptySubsequences: false) {
            let tokens = accepted.split(separator: ";", omittingEmptySubsequences: false).map { Substring($0) }
            let mediaType = Array(pyStrip(tokens[0]).utf8)
            if mediaType.elementsEqual("application/openmetrics-text".utf8) {
                let version = parameter("version", in: tokens) ?? ""
                let escaping = escapingParameter(in: tokens)
                if version.isEmpty {
                    return ExpositionFormat(
                        syntax: .openMetrics, escaping: .underscores,
                        contentType: "application/openmetrics-text; version=1.0.0; charset=utf-8")
                }
                if versionAtLeastOne(version) {
                    return ExpositionFormat(
                        syntax: .openMetrics, escaping: escaping,
                        contentType: "application/openmetrics-text; version=\(version); charset=utf-8; escaping=\(escaping.rawValue)")
                }
            } else if mediaType.elementsEqual("text/plain".utf8) {
                let version = parameter("version", in: tokens) ?? ""
                let escaping = escapingParameter(in: tokens)
                if !version.isEmpty, versionAtLeastOne(version) {
                    return ExpositionFormat(
                        syntax: .prometheusText, escaping: escaping,
                        contentType: "text/plain; version=1.0.0; charset=utf-8; escaping=\(escaping.rawValue)")
                }
            }
        }
        return .prometheusText004
    }

    // MARK: Parameter parsing, as `_get_version` / `_get_escaping` do it

    /// The value of the first `key=value` token whose key is exactly `key` (after stripping the token).
    private static func parameter(_ key: String, in tokens: [Substring]) -> String? {
        for token in tokens {
            let stripped = pyStrip(token).unicodeScalars
            guard let eq = stripped.firstIndex(of: "=") else { continue }
            if String(stripped[..<eq]).utf8.elementsEqual(key.utf8) {
                return String(stripped[stripped.index(after: eq)...])
            }
        }
        return nil
    }

    /// The first `escaping=` token decides; unknown values mean underscores.
    private static func escapingParameter(in tokens: [Substring]) -> EscapingScheme {
        guard let value = parameter("escaping", in: tokens) else { return .underscores }
        return EscapingScheme.allCases.first { $0.rawValue.utf8.elementsEqual(value.utf8) } ?? .underscores
    }

    /// `parse_version(v) >= (1, 0, 0)` with Python's tuple ordering. Parts that are not integers
    /// make Python raise; such versions are treated as not acceptable.
    static func versionAtLeastOne(_ version: String) -> Bool {
        let reference = [1, 0, 0]
        let parts = version.unicodeScalars.split(separator: ".", omittingEmptySubsequences: false).map { Substring($0) }
        for (i, part) in parts.enumerated() {
            if i == reference.count { return true }  // longer tuple with equal prefix is greater
            guard let n = pyInt(part) else { return false }
            if n != reference[i] { return n > reference[i] }
        }
        return parts.count >= reference.count
    }

    /// Python's `int(str)`: surrounding whitespace, an optional sign, decimal digits of any
    /// script (Unicode category Nd, as Python accepts `"１"` and `"١"`) with single underscores
    /// between them.
    static func pyInt(_ s: Substring) -> Int? {
        var scalars = Array(pyStrip(s).unicodeScalars)
        var negative = false
        if let first = scalars.first, first == "+" || first == "-" {
            negative = first == "-"
            scalars.removeFirst()
        }
        func digit(_ c: Unicode.Scalar) -> Int? {
            guard c.properties.numericType == .decimal, let v = c.properties.numericValue else { return nil }
            return Int(v)
        }
        guard let first = scalars.first, let last = scalars.last, digit(first) != nil, digit(last) != nil else { return nil }
        var value = 0
        var previousUnderscore = false
        for c in scalars {
            if c == "_" {
                if previousUnderscore { return nil }
                previousUnderscore = true
                continue
            }
            guard let d = digit(c) else { return nil }
            previousUnderscore = false
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(d)
            value = (o1 || o2) ? Int.max : a
        }
        return negative ? -value : value
    }

    /// Python's `str.strip()`: removes what `str.isspace()` calls whitespace from both ends.
    static func pyStrip(_ s: Substring) -> Substring {
        let scalars = s.unicodeScalars
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end, isPythonSpace(scalars[start]) { start = scalars.index(after: start) }
        while end > start, isPythonSpace(scalars[scalars.index(before: end)]) { end = scalars.index(before: end) }
        return Substring(scalars[start..<end])
    }

    static func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace || (0x1C...0x1F).contains(c.value)
    }
}
