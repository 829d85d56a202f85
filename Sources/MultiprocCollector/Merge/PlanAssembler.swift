// MARK: - Laying out the output of a plan

/// Turns the builder's slots into families and ordered lines: only slots that some entry
/// feeds appear, so a series whose files are gone leaves the output as it would in Python.
/// Rendered label sets are cached per slot across assemblies (slot numbers are stable until
/// the builder rebuilds, which starts a new assembler).
struct PlanAssembler {
    private var labelCache: [Int32: [Label]] = [:]

    private struct SortableLine {
        var groupLabels: [Label]
        var rank: Int
        var bound: Double
        var line: LinePlan
    }

    mutating func assemble(builder: PlanBuilder) -> MergePlan {
        let kinds = builder.slotKinds
        var linesByMetric = [[SortableLine]](repeating: [], count: builder.metricCount)

        // Histogram bucket groups: per (metric, labels without le), live slots in creation
        // order — Python's dict insertion order — then sorted as Python's `sorted` does.
        var groups: [[Int32]] = []
        var groupIndex: [PlanBuilder.SampleSlotKey: Int32] = [:]
        for slot in kinds.indices where builder.isLive(slot: slot) {
            guard case .bucket(let metric, let labels, _) = kinds[slot] else { continue }
            let key = PlanBuilder.SampleSlotKey(metric: metric, sampleName: ExactString(""), labels: labels)
            if let g = groupIndex[key] { groups[Int(g)].append(Int32(slot)) } else {
                groupIndex[key] = Int32(groups.count)
                groups.append([Int32(slot)])
            }
        }
        func bound(_ slot: Int32) -> Double {
            guard case .bucket(_, _, let b) = kinds[Int(slot)] else { return 0 }
            return b
        }
        for g in groups.indices {
            groups[g] = PythonListSort.sorted(groups[g]) { bound($0) < bound($1) }
        }

        var shadowedCounts = Set<PlanBuilder.SampleSlotKey>()
        for (key, g) in groupIndex {
            let name = builder.metricInfo(key.metric).name
            let rendered = Self.renderedLabels(key.labels)
            // All NaN buckets render as le="NaN" and overwrite one another: one line, holding
            // the running total at the last of them.
            let lastNaN = groups[Int(g)].lastIndex { bound($0).isNaN }
            for (i, slot) in groups[Int(g)].enumerated() {
                if bound(slot).isNaN, i != lastNaN { continue }
                let labels = cachedLabels(slot) {
                    Self.renderedLabels(key.labels + [Label(name: "le", value: FloatFormat.goString(bound(slot)))])
                }
                let line = LinePlan(sampleName: name + "_bucket", labels: labels,
                                    value: .cumulativeBucket(group: g, index: Int32(i)), textSuffix: nil)
                linesByMetric[Int(key.metric)].append(SortableLine(groupLabels: rendered, rank: 0, bound: bound(slot), line: line))
            }
            let countName = name + "_count"
            shadowedCounts.insert(PlanBuilder.SampleSlotKey(metric: key.metric, sampleName: ExactString(countName), labels: key.labels))
            let line = LinePlan(sampleName: countName, labels: rendered, value: .bucketCount(group: g), textSuffix: nil)
            linesByMetric[Int(key.metric)].append(SortableLine(groupLabels: rendered, rank: 1, bound: 0, line: line))
        }

        for slot in kinds.indices where builder.isLive(slot: slot) {
            guard case .sample(let metric, let sampleName, let rawLabels) = kinds[slot] else { continue }
            // `samples[labels][(metric_count, labels)] = acc` replaces a stored sample of that key.
            if !shadowedCounts.isEmpty,
               shadowedCounts.contains(PlanBuilder.SampleSlotKey(metric: metric, sampleName: ExactString(sampleName), labels: rawLabels)) {
                continue
            }
            let name = builder.metricInfo(metric).name
            let rendered = cachedLabels(Int32(slot)) { Self.renderedLabels(rawLabels) }
            let suffix = ExpositionWriter.textSuffix(of: sampleName, metric: name)
            let line = LinePlan(sampleName: sampleName, labels: rendered, value: .slot(Int32(slot)), textSuffix: suffix)
            linesByMetric[Int(metric)].append(SortableLine(groupLabels: rendered, rank: 2, bound: 0, line: line))
        }

        var families: [FamilyPlan] = []
        for (m, lines) in linesByMetric.enumerated() where !lines.isEmpty {
            let info = builder.metricInfo(Int32(m))
            let sorted = lines.sorted(by: Self.lineOrder)
            families.append(FamilyPlan(name: info.name, type: info.type, help: info.help, lines: sorted.map(\.line)))
        }
        families.sort { $0.name.exactlyPrecedes($1.name) }
        return MergePlan(slotOps: builder.slotOps, bucketGroups: groups, families: families)
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

    /// Lines of a family: by label set (without `le`), then buckets by bound, `_count`, then
    /// other samples by name, then by full labels.
    private static func lineOrder(_ a: SortableLine, _ b: SortableLine) -> Bool {
        let byGroup = compareLabels(a.groupLabels, b.groupLabels)
        if byGroup != 0 { return byGroup < 0 }
        if a.rank != b.rank { return a.rank < b.rank }
        if a.rank == 0 { return PythonFloat.sortsBefore(a.bound, b.bound) }
        let byName = a.line.sampleName.exactCompare(b.line.sampleName)
        if byName != 0 { return byName < 0 }
        return compareLabels(a.line.labels, b.line.labels) < 0
    }

    static func compareLabels(_ a: [Label], _ b: [Label]) -> Int {
        for (x, y) in zip(a, b) {
            let byName = x.name.exactCompare(y.name)
            if byName != 0 { return byName }
            let byValue = x.value.exactCompare(y.value)
            if byValue != 0 { return byValue }
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }
}
