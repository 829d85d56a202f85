// MARK: - A textfile's families, as prometheus_client had them before writing

/// One family of one textfile, ready to merge and serve: the ``MetricFamily`` that
/// prometheus_client held before `write_to_textfile` wrote it, so that the shared
/// ``ExpositionWriter`` writes the file's own lines again in text 0.0.4 and what Python would
/// write in every other format.
struct TextfileFamily: Sendable {
    /// Its help is a placeholder while ``help`` is nil (see ``TextfileMerge``).
    var family: MetricFamily
    /// The `# HELP` text, nil when the file has no `# HELP` line for it.
    var help: String?
    /// The 1-based line of each sample in the file, for messages.
    var lines: [Int]

    /// Builds the families of one parsed file:
    /// - a counter `x_total` is the family `x` (the text format announces counters by their
    ///   sample name); a counter whose name lacks `_total` cannot be written back as a counter
    ///   in OpenMetrics, so it is served with type `unknown` (`untyped`) under its own name;
    /// - `untyped` is ``MetricType/unknown``;
    /// - labels are sorted by name, as prometheus_client writes them;
    /// - the text format moves a counter's, histogram's or summary's `_created` samples into a
    ///   gauge family `x_created` of their own with the same HELP: such a gauge goes back into
    ///   its family, each sample after the samples of its label set, where Python keeps it
    ///   (the text writer moves it out again; OpenMetrics keeps it in place).
    static func build(_ parsed: [ParsedFamily]) -> [TextfileFamily] {
        var families = parsed.map(convert)
        var indexByName: [ExactString: Int] = [:]
        for (index, family) in families.enumerated() where indexByName[ExactString(family.family.name)] == nil {
            indexByName[ExactString(family.family.name)] = index
        }
        var merged = Set<Int>()
        for index in families.indices where families[index].family.type == .gauge {
            let name = Array(families[index].family.name.utf8)
            guard name.count > createdSuffix.count, name.suffix(createdSuffix.count).elementsEqual(createdSuffix) else { continue }
            let base = String(decoding: name.dropLast(createdSuffix.count), as: UTF8.self)
            guard let parent = indexByName[ExactString(base)], parent != index,
                  [.counter, .histogram, .summary].contains(families[parent].family.type),
                  families[parent].help == families[index].help else { continue }
            families[parent].adopt(created: families[index])
            merged.insert(index)
        }
        return families.indices.filter { !merged.contains($0) }.map { families[$0] }
    }

    private static let createdSuffix = Array("_created".utf8)
    private static let totalSuffix = Array("_total".utf8)

    private static func convert(_ parsed: ParsedFamily) -> TextfileFamily {
        var name = parsed.name
        let type: MetricType
        switch parsed.type ?? .untyped {
        case .counter:
            let bytes = Array(name.utf8)
            if bytes.count > totalSuffix.count, bytes.suffix(totalSuffix.count).elementsEqual(totalSuffix) {
                name = String(decoding: bytes.dropLast(totalSuffix.count), as: UTF8.self)
                type = .counter
            } else {
                type = .unknown
            }
        case .gauge: type = .gauge
        case .summary: type = .summary
        case .histogram: type = .histogram
        case .untyped: type = .unknown
        }
        let samples = parsed.samples.map { sample in
            let sorted = zip(sample.labels, sample.labels.dropFirst()).allSatisfy { $0.name.exactlyPrecedes($1.name) }
            return Sample(name: sample.name, labels: sorted ? sample.labels : sample.labels.sorted { $0.name.exactlyPrecedes($1.name) },
                          value: sample.value)
        }
        return TextfileFamily(family: MetricFamily(name: name, type: type, help: parsed.help ?? "", samples: samples),
                              help: parsed.help, lines: parsed.samples.map(\.line))
    }

    /// Puts the samples of `created` (the `_created` gauge of this family) each after the last
    /// sample of its label set (`le` and `quantile` aside), or at the end.
    private mutating func adopt(created: TextfileFamily) {
        func group(_ labels: [Label]) -> [Label] {
            func isBound(_ label: Label) -> Bool { label.name.exactlyEquals("le") || label.name.exactlyEquals("quantile") }
            return labels.contains(where: isBound) ? labels.filter { !isBound($0) } : labels
        }
        var lastOfGroup: [[Label]: Int] = [:]
        for (index, sample) in family.samples.enumerated() { lastOfGroup[group(sample.labels)] = index }
        var after: [Int: [(Sample, Int)]] = [:]
        var atEnd: [(Sample, Int)] = []
        for (sample, line) in zip(created.family.samples, created.lines) {
            if let index = lastOfGroup[group(sample.labels)] { after[index, default: []].append((sample, line)) } else { atEnd.append((sample, line)) }
        }
        var samples: [Sample] = []
        var lines: [Int] = []
        for index in family.samples.indices {
            samples.append(family.samples[index])
            lines.append(self.lines[index])
            for (sample, line) in after[index] ?? [] {
                samples.append(sample)
                lines.append(line)
            }
        }
        for (sample, line) in atEnd {
            samples.append(sample)
            lines.append(line)
        }
        family.samples = samples
        self.lines = lines
    }
}
