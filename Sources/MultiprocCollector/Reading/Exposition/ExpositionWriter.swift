// MARK: - Writing families in one format

/// Writes metric families as prometheus_client 0.26.0's `generate_latest` (Prometheus text)
/// and `openmetrics.generate_latest` (OpenMetrics) do, byte for byte.
///
/// Contract: families are written in the order given and lines in the order given; labels
/// must already be unique and sorted by name (code point order); no timestamps, exemplars or
/// units (the multiprocess files carry none). The OpenMetrics `# EOF` trailer is not written
/// here (see ``ExpositionFormat/trailer``), so callers can append families of their own first.
/// One deliberate difference: a counter of a release before 0.4 is announced in the text
/// format as that release announced it (``isCounterBefore04(name:sampleNames:)``).
public enum ExpositionWriter {

    /// Writes `families` followed by nothing else (no `# EOF`).
    public static func write(_ families: [MetricFamily], format: ExpositionFormat, into out: inout [UInt8]) {
        for family in families {
            let lines = FamilySamples(family: family, format: format)
            writeFamily(format: format, lines: lines, into: &out)
        }
    }

    /// The shared family layout: header, present lines, then (text format only) the
    /// `_created`/`_gcount`/`_gsum` lines under a gauge family of their own each, in that order.
    static func writeFamily<Lines: FamilyLines>(format: ExpositionFormat, lines: Lines, into out: inout [UInt8]) {
        lines.appendHeader(into: &out)
        var moved: [(suffix: String, line: Int)] = []
        for i in 0..<lines.count where lines.isPresent(i) {
            if format.syntax == .prometheusText, let suffix = lines.textSuffix(i) {
                moved.append((suffix, i))
                continue
            }
            lines.appendLine(i, into: &out)
        }
        if moved.isEmpty { return }
        for suffix in ["_created", "_gcount", "_gsum"] {
            let group = moved.filter { $0.suffix == suffix }
            if group.isEmpty { continue }
            lines.appendSuffixHeader(suffix, into: &out)
            for entry in group { lines.appendLine(entry.line, into: &out) }
        }
    }

    /// `_created`, `_gsum` or `_gcount` when `sample` is the metric name plus one of them.
    static func textSuffix(of sample: String, metric: String) -> String? {
        // Most samples are not such: tell by length before building any string.
        let extra = sample.utf8.count - metric.utf8.count
        for suffix in ["_created", "_gsum", "_gcount"] where extra == suffix.utf8.count && sample.exactlyEquals(metric + suffix) {
            return suffix
        }
        return nil
    }

    // MARK: Headers

    /// `# HELP` and `# TYPE` lines of a family whose samples are named `sampleNames`.
    static func appendHeader<Names: Sequence<String>>(name: String, type: MetricType, help: String, sampleNames: Names,
                                                      format: ExpositionFormat, into out: inout [UInt8]) {
        switch format.syntax {
        case .prometheusText:
            // Counters are announced with their `_total` name in the text format (those of
            // releases before 0.4 with their own), and the text format calls an unknown type `untyped`.
            let announced = type == .counter && !isCounterBefore04(name: name, sampleNames: sampleNames) ? name + "_total" : name
            let typeName = type == .unknown ? "untyped" : type.rawValue
            appendHelpType(name: announced, typeName: typeName, help: help, format: format, into: &out)
        case .openMetrics:
            appendHelpType(name: name, typeName: type.rawValue, help: help, format: format, into: &out)
        }
    }

    /// Whether a counter family's samples are all named as the family itself: only releases
    /// before 0.4 stored counters so (``SampleKey/isCounterBefore04``), and, having no `_total`
    /// convention, they announced the family under that name in the text format
    /// (`# TYPE orders counter`, then `orders{...}` lines), where 0.4 and later announce
    /// `orders_total` and write `orders_total{...}` lines. OpenMetrics, which they predate,
    /// announces every counter under the family name anyway.
    static func isCounterBefore04<Names: Sequence<String>>(name: String, sampleNames: Names) -> Bool {
        var any = false
        for sample in sampleNames {
            guard sample.exactlyEquals(name) else { return false }
            any = true
        }
        return any
    }

    /// Text format: the gauge family that `_created`/`_gsum`/`_gcount` samples move to.
    static func appendSuffixHeader(name: String, help: String, format: ExpositionFormat, into out: inout [UInt8]) {
        appendHelpType(name: name, typeName: "gauge", help: help, format: format, into: &out)
    }

    private static func appendHelpType(name: String, typeName: String, help: String, format: ExpositionFormat, into out: inout [UInt8]) {
        out.append(contentsOf: helpPrefix)
        NameEscaping.appendMetricName(name, scheme: format.escaping, to: &out)
        out.append(UInt8(ascii: " "))
        switch format.syntax {
        case .prometheusText: NameEscaping.appendTextHelp(help, to: &out)
        case .openMetrics: NameEscaping.appendQuotedEscape(help, to: &out)
        }
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: typePrefix)
        NameEscaping.appendMetricName(name, scheme: format.escaping, to: &out)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: typeName.utf8)
        out.append(UInt8(ascii: "\n"))
    }

    private static let helpPrefix = Array("# HELP ".utf8)
    private static let typePrefix = Array("# TYPE ".utf8)

    // MARK: Sample lines

    /// Everything of a sample line before its value: `name{labels} `.
    static func appendLinePrefix(sampleName: String, labels: [Label], format: ExpositionFormat, into out: inout [UInt8]) {
        let scheme = format.escaping
        if scheme == .allowUTF8 && !NameEscaping.isLegacyMetricName(sampleName) {
            // A name outside the legacy set goes inside the braces, quoted: `{"name",a="b"} `.
            // OpenMetrics leaves the braces out when there is nothing to put in them (an empty
            // sample name without labels); the text format always writes them.
            if format.syntax == .prometheusText || !sampleName.isEmpty || !labels.isEmpty {
                out.append(UInt8(ascii: "{"))
                NameEscaping.appendMetricName(sampleName, scheme: scheme, to: &out)
                if !labels.isEmpty { out.append(UInt8(ascii: ",")) }
                appendLabelPairs(labels, scheme: scheme, into: &out)
                out.append(UInt8(ascii: "}"))
            }
        } else {
            switch format.syntax {
            case .prometheusText:
                NameEscaping.appendMetricName(sampleName, scheme: scheme, to: &out)
            case .openMetrics:
                // OpenMetrics escapes sample names with the label-name character set (no ':'),
                // and without the legacy-name shortcut of `escape_metric_name`.
                NameEscaping.appendEscape(sampleName, scheme: scheme, allowColon: false, to: &out)
            }
            if !labels.isEmpty {
                out.append(UInt8(ascii: "{"))
                appendLabelPairs(labels, scheme: scheme, into: &out)
                out.append(UInt8(ascii: "}"))
            }
        }
        out.append(UInt8(ascii: " "))
    }

    private static func appendLabelPairs(_ labels: [Label], scheme: EscapingScheme, into out: inout [UInt8]) {
        for (i, label) in labels.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            NameEscaping.appendLabelName(label.name, scheme: scheme, to: &out)
            out.append(UInt8(ascii: "="))
            out.append(UInt8(ascii: "\""))
            NameEscaping.appendQuotedEscape(label.value, to: &out)
            out.append(UInt8(ascii: "\""))
        }
    }
}

/// The lines of one family as ``ExpositionWriter/writeFamily(format:lines:into:)`` sees them.
protocol FamilyLines {
    var count: Int { get }
    func isPresent(_ line: Int) -> Bool
    /// Text format: the suffix that moves this line to a gauge family of its own.
    func textSuffix(_ line: Int) -> String?
    func appendHeader(into out: inout [UInt8])
    func appendSuffixHeader(_ suffix: String, into out: inout [UInt8])
    /// The whole line: prefix, value, newline.
    func appendLine(_ line: Int, into out: inout [UInt8])
}

/// Lines of a plain ``MetricFamily``.
private struct FamilySamples: FamilyLines {
    let family: MetricFamily
    let format: ExpositionFormat

    var count: Int { family.samples.count }
    func isPresent(_ line: Int) -> Bool { true }
    func textSuffix(_ line: Int) -> String? { ExpositionWriter.textSuffix(of: family.samples[line].name, metric: family.name) }
    func appendHeader(into out: inout [UInt8]) {
        ExpositionWriter.appendHeader(name: family.name, type: family.type, help: family.help, sampleNames: family.samples.lazy.map(\.name),
                                      format: format, into: &out)
    }
    func appendSuffixHeader(_ suffix: String, into out: inout [UInt8]) {
        ExpositionWriter.appendSuffixHeader(name: family.name + suffix, help: family.help, format: format, into: &out)
    }
    func appendLine(_ line: Int, into out: inout [UInt8]) {
        let sample = family.samples[line]
        ExpositionWriter.appendLinePrefix(sampleName: sample.name, labels: sample.labels, format: format, into: &out)
        FloatFormat.appendGoString(sample.value, to: &out)
        out.append(UInt8(ascii: "\n"))
    }
}
