// MARK: - The Prometheus text format (0.0.4), read as node_exporter reads it

/// A metric type as a `# TYPE` line names it.
enum TextType: Sendable, Equatable {
    case counter, gauge, summary, histogram, untyped
}

/// One family of one textfile, as the file has it: the name of its `# TYPE` line (a counter's
/// still ends in `_total`), its samples in file order with their labels in file order.
struct ParsedFamily: Sendable {
    var name: String
    /// Nil while only `# HELP` named it; `untyped` from its first sample on unless typed before.
    var type: TextType?
    /// Nil without a `# HELP` line; `""` for an empty one (`# HELP name ` as prometheus_client
    /// writes an empty documentation).
    var help: String?
    var samples: [ParsedSample] = []
}

/// One sample line.
struct ParsedSample: Sendable {
    var name: String
    var labels: [Label]
    var value: Double
    /// 1-based line number in the file, for messages.
    var line: Int
}

/// Reads a textfile: the Prometheus text format 0.0.4, as prometheus_client's
/// `write_to_textfile` writes it and node_exporter's textfile collector reads it.
///
/// Acceptance follows `expfmt.TextParser` (node_exporter, promtool, the Pushgateway) step by
/// step: lines, comments, `# HELP`/`# TYPE` (a second one, or a TYPE after samples, is an
/// error), names (legacy, or quoted UTF-8 names as `write_to_textfile` writes them by default
/// since prometheus_client 0.22), label escapes, Go's float and integer syntax, every line
/// ending in a newline; samples join their family by the same rule (a `_count`, `_sum` or
/// `_bucket` joins a summary or histogram of the base name typed before it, anything else the
/// family of its own name). Where the Go parser silently drops or rewrites a line, the file is
/// refused here instead, with its line number, so that nothing is served differently from
/// what the file says: a histogram sample other than `_bucket` (with a numeric `le`), `_count`
/// or `_sum`; a summary sample without a numeric `quantile`; `le`/`quantile` on a `_count` or
/// `_sum`; a repeated label name, also two that an escaping writes alike (`a.b` and `a_b`:
/// such a line cannot be written in every format); `gaugehistogram` types (the text format has
/// none). Like
/// node_exporter, a file with sample timestamps is refused whole.
///
/// Families that end up with no sample are dropped, as the Go parser drops them.
enum TextFormatParser {

    /// Why a file is refused.
    enum Failure: Error, Equatable {
        /// Not the text format, at a line.
        case syntax(TextFormatError)
        /// Sample timestamps, which node_exporter refuses (the first line that has one).
        case timestamp(line: Int)
    }

    static func parse(_ bytes: [UInt8]) throws(Failure) -> [ParsedFamily] {
        var state = State()
        var start = 0
        var number = 1
        do throws(TextFormatError) {
            while start < bytes.count {
                let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n"))
                var line = TextLine(bytes: bytes, index: start, end: newline ?? bytes.count, number: number)
                if newline == nil {
                    // The Go parser needs every line ended: only blanks may follow the last newline.
                    line.skipBlanks()
                    if !line.atEnd { throw line.error("unexpected end of input: the last line has no newline") }
                    break
                }
                try state.read(&line)
                start = newline! + 1
                number += 1
            }
        } catch {
            throw .syntax(error)
        }
        if let line = state.firstTimestampLine { throw .timestamp(line: line) }
        return state.families.filter { !$0.samples.isEmpty }
    }

    /// The families read so far, by name, and what the current line resolved to.
    private struct State {
        var families: [ParsedFamily] = []
        var indexByName: [ExactString: Int] = [:]
        var firstTimestampLine: Int?
        /// The last sample's name and what it resolved to: a family's samples mostly follow
        /// one another. A name resolves the same way for good once resolved: a family is only
        /// created for a name that resolves to nothing, and a type, which decides the suffix
        /// rule, is set once (a second `# TYPE` is an error).
        var lastSample: (name: String, index: Int, role: Role)?

        mutating func read(_ line: inout TextLine) throws(TextFormatError) {
            line.skipBlanks()
            if line.atEnd { return }
            if line.current == UInt8(ascii: "#") {
                line.index += 1
                try readComment(&line)
            } else {
                try readSample(&line)
            }
        }

        // MARK: Comments

        private mutating func readComment(_ line: inout TextLine) throws(TextFormatError) {
            line.skipBlanks()
            let keyword = line.tokenUntilBlank()
            if line.atEnd { return }
            let isHelp = keyword.elementsEqual("HELP".utf8)
            guard isHelp || keyword.elementsEqual("TYPE".utf8) else { return }  // any other comment
            line.skipBlanks()
            let name = try line.metricName()
            if line.atEnd { return }
            guard line.atBlank else { throw line.error("invalid metric name in comment") }
            let index = try family(named: name, line: line).index
            line.skipBlanks()
            if line.atEnd {
                // `# HELP name ` is how prometheus_client writes an empty documentation; the Go
                // parser leaves such a family without HELP, which here keeps the empty text.
                if isHelp, families[index].help == nil { families[index].help = "" }
                return
            }
            if isHelp {
                if let help = families[index].help, !help.isEmpty {
                    throw line.error("second HELP line for metric name \"\(families[index].name)\"")
                }
                families[index].help = try line.helpText()
            } else {
                guard families[index].type == nil else {
                    throw line.error("second TYPE line for metric name \"\(families[index].name)\", or TYPE reported after samples")
                }
                families[index].type = try Self.type(line.rest(), line: line)
            }
        }

        private static func type(_ token: ArraySlice<UInt8>, line: TextLine) throws(TextFormatError) -> TextType {
            switch String(decoding: token, as: UTF8.self).uppercased() {
            case "COUNTER": return .counter
            case "GAUGE": return .gauge
            case "SUMMARY": return .summary
            case "HISTOGRAM": return .histogram
            case "UNTYPED": return .untyped
            case "GAUGE_HISTOGRAM", "GAUGEHISTOGRAM":
                throw line.error("gauge histograms have no text format representation (prometheus_client writes them as histogram)")
            default:
                throw line.error("unknown metric type \"\(String(decoding: token, as: UTF8.self))\"")
            }
        }

        // MARK: Samples

        private mutating func readSample(_ line: inout TextLine) throws(TextFormatError) {
            var name = ""
            var labels: [Label] = []
            if line.current == UInt8(ascii: "{") {
                line.index += 1
                (name, labels) = try readBraces(&line, nameInside: true)
                guard !name.isEmpty else { throw line.error("no metric name") }
            } else {
                name = try line.metricName()
                guard !name.isEmpty else { throw line.error("invalid metric name") }
                line.skipBlanks()
                if !line.atEnd, line.current == UInt8(ascii: "{") {
                    line.index += 1
                    (_, labels) = try readBraces(&line, nameInside: false)
                }
            }
            let (index, role): (Int, Role)
            if let last = lastSample, last.name.exactlyEquals(name) {
                (index, role) = (last.index, last.role)
            } else {
                (index, role) = try family(named: name, line: line)
                lastSample = (name, index, role)
            }
            if families[index].type == nil { families[index].type = .untyped }

            let valueToken = line.tokenUntilBlank()
            guard let value = GoNumber.float(valueToken) else {
                throw line.error("expected float as value, got \"\(String(decoding: valueToken, as: UTF8.self))\"")
            }
            if !line.atEnd {
                line.skipBlanks()
                let timestamp = line.tokenUntilBlank()
                guard GoNumber.int64(timestamp) != nil else {
                    throw line.error("expected integer as timestamp, got \"\(String(decoding: timestamp, as: UTF8.self))\"")
                }
                let spurious = line.rest()
                guard spurious.isEmpty else {
                    throw line.error("spurious string after timestamp: \"\(String(decoding: spurious, as: UTF8.self))\"")
                }
                if firstTimestampLine == nil { firstTimestampLine = line.number }
            }
            try check(role: role, labels: labels, value: value, family: families[index], line: line)
            if let (first, second, scheme) = SeriesIdentity.collidingLabelNames(labels) {
                throw line.error("label names \"\(first)\" and \"\(second)\" are one name with escaping=\(scheme.rawValue)")
            }
            families[index].samples.append(ParsedSample(name: name, labels: labels, value: value, line: line.number))
        }

        /// Labels up to the closing brace and the blanks after it; with `nameInside`, a term
        /// without `=` is the metric name (`{"my.metric",a="b"}`).
        private func readBraces(_ line: inout TextLine, nameInside: Bool) throws(TextFormatError) -> (String, [Label]) {
            var name = ""
            var labels: [Label] = []
            while true {
                line.skipBlanks()
                guard !line.atEnd else { throw line.error("labels are not closed before the end of the line") }
                if line.current == UInt8(ascii: "}") {
                    line.index += 1
                    line.skipBlanks()
                    return (name, labels)
                }
                let term = try line.labelName()
                guard !term.isEmpty else { throw line.error("invalid label name") }
                line.skipBlanks()
                guard !line.atEnd else { throw line.error("labels are not closed before the end of the line") }
                if line.current != UInt8(ascii: "=") {
                    guard nameInside, line.current == UInt8(ascii: ",") || line.current == UInt8(ascii: "}") else {
                        throw line.error("expected '=' after label name, found '\(Character(Unicode.Scalar(line.current)))'")
                    }
                    guard name.isEmpty else { throw line.error("multiple metric names for metric \"\(name)\"") }
                    name = term
                    if line.current == UInt8(ascii: ",") { line.index += 1 }
                    continue
                }
                line.index += 1
                guard !term.exactlyEquals("__name__") else { throw line.error("label name \"__name__\" is reserved") }
                guard !labels.contains(where: { $0.name.exactlyEquals(term) }) else {
                    throw line.error("duplicate label name \"\(term)\"")
                }
                line.skipBlanks()
                guard !line.atEnd, line.current == UInt8(ascii: "\"") else { throw line.error("expected '\"' at start of label value") }
                line.index += 1
                labels.append(Label(name: term, value: try line.labelValue()))
                line.skipBlanks()
                guard !line.atEnd else { throw line.error("labels are not closed before the end of the line") }
                switch line.current {
                case UInt8(ascii: ","): line.index += 1
                case UInt8(ascii: "}"): continue
                default: throw line.error("unexpected character after label value \"\(labels.last!.value)\"")
                }
            }
        }

        // MARK: Families

        /// What a sample is to its family.
        enum Role { case plain, count, sum, bucket }

        private static let suffixes: [([UInt8], Role)] = [(Array("_count".utf8), .count), (Array("_sum".utf8), .sum), (Array("_bucket".utf8), .bucket)]

        /// `setOrCreateCurrentMF`: the family of this exact name; else the summary whose
        /// `_count`/`_sum` this is, or the histogram whose `_count`/`_sum`/`_bucket` it is; else
        /// a new family.
        private mutating func family(named name: String, line: TextLine) throws(TextFormatError) -> (index: Int, role: Role) {
            guard !name.isEmpty else { throw line.error("invalid metric name") }
            if let index = indexByName[ExactString(name)] { return (index, .plain) }
            let bytes = Array(name.utf8)
            for (suffix, role) in Self.suffixes where bytes.count > suffix.count && bytes.suffix(suffix.count).elementsEqual(suffix) {
                let base = String(decoding: bytes.dropLast(suffix.count), as: UTF8.self)
                guard let index = indexByName[ExactString(base)] else { continue }
                if families[index].type == .histogram || (families[index].type == .summary && role != .bucket) {
                    return (index, role)
                }
            }
            families.append(ParsedFamily(name: name))
            indexByName[ExactString(name)] = families.count - 1
            return (families.count - 1, .plain)
        }

        /// Refuses what the Go parser would silently drop or rewrite (see the type's comment).
        private func check(role: Role, labels: [Label], value: Double, family: ParsedFamily, line: TextLine) throws(TextFormatError) {
            func bound(_ label: String) -> Double? {
                labels.first { $0.name.exactlyEquals(label) }.flatMap { GoNumber.float(Array($0.value.utf8)[...]) }
            }
            func has(_ label: String) -> Bool { labels.contains { $0.name.exactlyEquals(label) } }
            switch family.type {
            case .histogram:
                switch role {
                case .plain:
                    throw line.error("histogram \"\(family.name)\" has samples \(family.name)_bucket, _count and _sum only")
                case .bucket:
                    guard has("le") else { throw line.error("histogram bucket without an \"le\" label") }
                    guard let le = bound("le"), !le.isNaN else { throw line.error("expected float as value for 'le' label") }
                    if value < 0 { throw line.error("negative bucket population for histogram \"\(family.name)\"") }
                case .count, .sum:
                    guard !has("le") else { throw line.error("\"le\" label on a histogram's _count or _sum") }
                    if role == .count, value < 0 { throw line.error("negative count for histogram \"\(family.name)\"") }
                }
            case .summary:
                switch role {
                case .plain:
                    guard has("quantile") else { throw line.error("summary sample without a \"quantile\" label") }
                    guard let quantile = bound("quantile"), !quantile.isNaN else {
                        throw line.error("expected float as value for 'quantile' label")
                    }
                case .count, .sum:
                    guard !has("quantile") else { throw line.error("\"quantile\" label on a summary's _count or _sum") }
                case .bucket:
                    break  // never: a summary takes no _bucket
                }
            default:
                break
            }
        }
    }
}
