import Glibc

// MARK: - Laying out the output of a plan

/// Turns the builder's slots into families and ordered lines: only slots that some entry
/// feeds appear, so a series whose files are gone leaves the output as it would in Python.
///
/// Families are laid out per metric and kept: an update re-lays only the metrics whose live
/// slots changed, and every other family (with the prefixes already rendered for it) is
/// shared with the previous plan. Slot numbers are stable until the builder rebuilds, which
/// starts a new assembler.
struct PlanAssembler {
    private var families: [Int32: FamilyPlan] = [:]
    private var labelCache: [Int32: [Label]] = [:]

    private struct SortableLine {
        var groupLabels: [Label]
        var rank: Int
        var bound: Double
        var line: LinePlan
    }

    /// A plan with the families of `dirty` metrics laid out again (all when nil).
    mutating func assemble(builder: PlanBuilder, dirty: Set<Int32>?) -> MergePlan {
        let metrics = dirty.map(Array.init) ?? (0..<Int32(builder.metricCount)).map { $0 }
        for metric in metrics {
            families[metric] = layOut(metric: metric, builder: builder)
        }
        let sorted = families.values.sorted { $0.name.exactlyPrecedes($1.name) }
        return MergePlan(slotOps: builder.slotOps, families: sorted)
    }

    /// The family of one metric, or nil when no entry feeds it any more.
    private mutating func layOut(metric: Int32, builder: PlanBuilder) -> FamilyPlan? {
        let kinds = builder.slotKinds
        let live = builder.slots(ofMetric: metric).filter { builder.isLive(slot: Int($0)) }
        if live.isEmpty { return nil }
        let info = builder.metricInfo(metric)
        var lines: [SortableLine] = []

        // Histogram bucket groups: per label set (without le), live slots in creation order —
        // Python's dict insertion order — then sorted as Python's `sorted` does.
        var groups: [[Int32]] = []
        var groupLabels: [[Label]] = []
        var groupIndex: [[Label]: Int] = [:]
        for slot in live {
            guard case .bucket(_, let labels, _) = kinds[Int(slot)] else { continue }
            if let g = groupIndex[labels] { groups[g].append(slot) } else {
                groupIndex[labels] = groups.count
                groups.append([slot])
                groupLabels.append(labels)
            }
        }
        func bound(_ slot: Int32) -> Double {
            guard case .bucket(_, _, let b) = kinds[Int(slot)] else { return 0 }
            return b
        }
        var shadowedCounts = Set<[Label]>()
        for g in groups.indices {
            groups[g] = PythonListSort.sorted(groups[g]) { bound($0) < bound($1) }
            let rendered = Self.renderedLabels(groupLabels[g])
            // All NaN buckets render as le="NaN" and overwrite one another: one line, holding
            // the running total at the last of them.
            let lastNaN = groups[g].lastIndex { bound($0).isNaN }
            for (i, slot) in groups[g].enumerated() {
                if bound(slot).isNaN, i != lastNaN { continue }
                let labels = cachedLabels(slot) {
                    Self.renderedLabels(groupLabels[g] + [Label(name: "le", value: FloatFormat.goString(bound(slot)))])
                }
                let line = LinePlan(sampleName: info.name + "_bucket", labels: labels,
                                    value: .cumulativeBucket(group: Int32(g), index: Int32(i)), textSuffix: nil)
                lines.append(SortableLine(groupLabels: rendered, rank: 0, bound: bound(slot), line: line))
            }
            shadowedCounts.insert(groupLabels[g])
            let line = LinePlan(sampleName: info.name + "_count", labels: rendered, value: .bucketCount(group: Int32(g)), textSuffix: nil)
            lines.append(SortableLine(groupLabels: rendered, rank: 1, bound: 0, line: line))
        }

        let countName = info.name + "_count"
        for slot in live {
            guard case .sample(_, let sampleName, let rawLabels) = kinds[Int(slot)] else { continue }
            // `samples[labels][(metric_count, labels)] = acc` replaces a stored sample of that key.
            if !shadowedCounts.isEmpty, sampleName.exactlyEquals(countName), shadowedCounts.contains(rawLabels) { continue }
            let rendered = cachedLabels(slot) { Self.renderedLabels(rawLabels) }
            let suffix = ExpositionWriter.textSuffix(of: sampleName, metric: info.name)
            let line = LinePlan(sampleName: sampleName, labels: rendered, value: .slot(slot), textSuffix: suffix)
            lines.append(SortableLine(groupLabels: rendered, rank: 2, bound: 0, line: line))
        }

        // Sort by one precomputed byte key per line (see `sortKey`), compared with memcmp.
        let keys = lines.map(Self.sortKey)
        let order = lines.indices.sorted { a, b in
            keys[a].withUnsafeBytes { x in keys[b].withUnsafeBytes { y in
                let common = min(x.count, y.count)
                let c = common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common)
                return c != 0 ? c < 0 : x.count < y.count
            } }
        }
        return FamilyPlan(name: info.name, type: info.type, help: info.help, lines: order.map { lines[$0].line },
                          bucketGroups: groups)
    }

    private mutating func cachedLabels(_ slot: Int32, _ make: () -> [Label]) -> [Label] {
        if let cached = labelCache[slot] { return cached }
        let labels = make()
        labelCache[slot] = labels
        return labels
    }

    /// Labels as Python renders a sample: `dict(tuple)` (later names win) sorted by name.
    static func renderedLabels(_ labels: [Label]) -> [Label] {
        if zip(labels, labels.dropFirst()).allSatisfy({ $0.name.exactlyPrecedes($1.name) }) { return labels }
        var byName: [ExactString: String] = [:]
        for label in labels { byName[ExactString(label.name)] = label.value }
        return byName.map { Label(name: $0.key.value, value: $0.value) }.sorted { $0.name.exactlyPrecedes($1.name) }
    }

    /// The order of a family's lines as bytes: label set (without `le`), then buckets by bound,
    /// `_count`, then other samples by name, then by full labels. Strings are written with
    /// 0x00 as terminator and 0x00/0x01 escaped, so byte order is the order of the fields.
    private static func sortKey(_ line: SortableLine) -> [UInt8] {
        var key: [UInt8] = []
        key.reserveCapacity(64)
        func string(_ s: String) {
            for b in s.utf8 {
                if b <= 1 { key.append(1); key.append(b + 1) } else { key.append(b) }
            }
            key.append(0)
        }
        func labels(_ labels: [Label]) {
            for label in labels {
                key.append(2)  // one more label: sorts after the end of a shorter set
                string(label.name)
                string(label.value)
            }
            key.append(0)
        }
        labels(line.groupLabels)
        key.append(UInt8(line.rank))
        if line.rank == 0 {
            // Doubles as order-preserving unsigned integers; NaN last.
            let bits = line.bound.isNaN ? UInt64.max : line.bound.bitPattern
            let ordered = line.bound.isNaN ? bits : (bits >> 63 == 1 ? ~bits : bits | (1 << 63))
            withUnsafeBytes(of: ordered.bigEndian) { key.append(contentsOf: $0) }
        } else {
            string(line.line.sampleName)
            labels(line.line.labels)
        }
        return key
    }
}
