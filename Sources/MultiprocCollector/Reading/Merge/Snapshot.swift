// MARK: - One scrape's merged result

/// The merged metrics of one scrape: immutable, cheap to render in any format, safe to share
/// between threads.
public struct Snapshot: Sendable {
    let plan: MergePlan
    let slots: SlotValues

    /// Every problem with a file as of this scrape, including ones seen before. To report
    /// each once while it lasts, keep a ``ProblemLog`` per consumer.
    public let problems: [FileProblem]
    /// What this scrape read.
    public internal(set) var statistics: ScrapeStatistics
    /// What the textfile directory added to this scrape, and what it left out: nil unless
    /// ``DirectoryCollector/Options/textfileDirectory`` is set. Its families are among
    /// ``families`` and in every body.
    public internal(set) var textfiles: TextfileReport? = nil

    /// The merged families of the `.db` files and the textfiles, sorted by name; `.db`
    /// samples in a stable order (by label set, then buckets by bound, `_count`, other samples
    /// by name), textfile samples in file order.
    public var families: [MetricFamily] {
        var families: [MetricFamily] = []
        forEachFamily(directory: { family in
            var samples: [Sample] = []
            for line in family.lines {
                guard let value = value(of: line.value, in: family) else { continue }
                samples.append(Sample(name: line.sampleName, labels: line.labels, value: value))
            }
            families.append(MetricFamily(name: family.name, type: family.type, help: family.help, samples: samples))
        }, textfile: { families.append($0) })
        return families
    }

    /// Appends the exposition of this snapshot in `format`, without the OpenMetrics `# EOF`
    /// (append ``ExpositionFormat/trailer`` when nothing else follows).
    public func render(_ format: ExpositionFormat, into out: inout [UInt8]) {
        forEachFamily(directory: { family in
            let rendered = family.rendered(for: format)
            rendered.bytes.withUnsafeBufferPointer { bytes in
                let lines = PlanLines(family: family, rendered: rendered, bytes: bytes, snapshot: self)
                ExpositionWriter.writeFamily(format: format, lines: lines, into: &out)
            }
        }, textfile: { ExpositionWriter.write([$0], format: format, into: &out) })
    }

    /// The `.db` families and the textfile families, interleaved in name order (both lists
    /// are sorted; no name is in both, see ``TextfileMerge``).
    private func forEachFamily(directory: (FamilyPlan) -> Void, textfile: (MetricFamily) -> Void) {
        let extra = textfiles?.families ?? []
        var next = 0
        for family in plan.families {
            while next < extra.count, extra[next].name.exactlyPrecedes(family.name) {
                textfile(extra[next])
                next += 1
            }
            directory(family)
        }
        for family in extra[next...] { textfile(family) }
    }

    /// The complete body for `format`, `# EOF` included.
    public func body(_ format: ExpositionFormat) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(plan.families.count * 256)
        render(format, into: &out)
        out.append(contentsOf: format.trailer)
        return out
    }

    /// The value of a line, or nil when the line is absent this scrape.
    func value(of line: LineValue, in family: FamilyPlan) -> Double? {
        switch line {
        case .slot(let s):
            return slots.present[Int(s)] ? slots.values[Int(s)] : nil
        case .cumulativeBucket(let g, let index):
            var acc = 0.0
            for slot in family.bucketGroups[Int(g)][...Int(index)] { acc += slots.values[Int(slot)] }
            return acc
        case .bucketCount(let g):
            var acc = 0.0
            for slot in family.bucketGroups[Int(g)] { acc += slots.values[Int(slot)] }
            return acc
        }
    }
}

/// Counts describing one scrape.
public struct ScrapeStatistics: Sendable, Equatable {
    /// Metric files merged, by type.
    public var filesByType: [MetricType: Int] = [:]
    /// Metric files merged, by the layout (prometheus_client release) they were written in.
    public var filesByLayout: [FileLayout: Int] = [:]
    /// Bytes in use (`used`) across merged files.
    public var bytesUsed: Int = 0
    /// Entries merged.
    public var entries: Int = 0
    /// Distinct pids among merged files.
    public var pids: Int = 0
    /// Files whose keys were (re)parsed this scrape.
    public var filesParsed: Int = 0
    /// Files whose values were read from their mapping this scrape.
    public var filesRead: Int = 0
    /// Files of pids marked dead, folded once and not read again.
    public var filesFrozen: Int = 0
    /// Whether the merge plan changed (new series, new files, files gone).
    public var planChanged: Bool = false
    /// Whether the merge plan was rebuilt from scratch rather than updated.
    public var planRebuilt: Bool = false
    /// Wall time of the refresh, in seconds.
    public var duration: Double = 0
    /// `SIGBUS` faults absorbed while checking frozen files (for tests of that path; faults
    /// while reading a file are reported as ``FileProblem/Reason/truncatedWhileReading``).
    var sigbusFaults = 0

    public init() {}
}

// MARK: - Rendering with cached prefixes

private struct PlanLines: FamilyLines {
    let family: FamilyPlan
    let rendered: RenderedFamily
    let bytes: UnsafeBufferPointer<UInt8>
    let snapshot: Snapshot

    var count: Int { rendered.prefixes.count }

    func isPresent(_ line: Int) -> Bool {
        if case .slot(let s) = family.lines[line].value { return snapshot.slots.present[Int(s)] }
        return true
    }

    func textSuffix(_ line: Int) -> String? { family.lines[line].textSuffix }

    func appendHeader(into out: inout [UInt8]) {
        out.append(contentsOf: bytes[rendered.header])
    }

    func appendSuffixHeader(_ suffix: String, into out: inout [UInt8]) {
        if let range = rendered.suffixHeaders[suffix] { out.append(contentsOf: bytes[range]) }
    }

    func appendLine(_ line: Int, into out: inout [UInt8]) {
        out.append(contentsOf: bytes[rendered.prefixes[line]])
        FloatFormat.appendGoString(snapshot.value(of: family.lines[line].value, in: family) ?? 0, to: &out)
        out.append(UInt8(ascii: "\n"))
    }
}
