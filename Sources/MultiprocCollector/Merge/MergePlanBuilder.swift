// MARK: - Building a plan with prometheus_client's merge semantics

/// One file as the merge sees it: its name and the decoded keys of its entries, in file order.
struct MergeInputFile {
    var name: MetricFileName
    var keyIDs: [KeyTable.ID]
}

/// Compiles a ``MergePlan`` from files in merge order.
///
/// The rules, from prometheus_client 0.26.0 `multiprocess.py`:
/// - a metric's type and help come from the first entry seen for it; a gauge's mode from the
///   last gauge file holding one of its entries;
/// - entries of gauge files carry an extra `pid` label (appended after the sorted labels);
///   gauges in min/max/sum/mostrecent modes (and their live variants) drop every `pid` label;
/// - histogram entries with an `le` label feed bucket `(labels without le, float(le))`; the
///   buckets of a label set are sorted by bound, made cumulative, and give `_count`;
/// - everything else with the same (sample name, labels) is combined by the metric's op.
struct MergePlanBuilder {

    struct Problem {
        var fileIndex: Int
        var reason: FileProblem.Reason
        var detail: String
    }

    private struct MetricInfo {
        var name: String
        var type: MetricType
        var help: String
        var mode: GaugeMode?
        var op: MergeOp {
            guard type == .gauge, let mode else { return .sum }
            switch mode {
            case .all, .liveAll: return .last
            case .min, .liveMin: return .min
            case .max, .liveMax: return .max
            case .sum, .liveSum: return .sum
            case .mostRecent, .liveMostRecent: return .mostRecent
            }
        }
        /// Gauges in every mode but all/liveall drop `pid` labels.
        var dropsPid: Bool { type == .gauge && op != .last }
    }

    private struct SampleSlotKey: Hashable {
        var metric: Int32
        var sampleName: ExactString
        var labels: [Label]
    }

    private struct BucketSlotKey: Hashable {
        var metric: Int32
        var labels: [Label]
        var bound: UInt64
    }

    private struct SampleSlot {
        var metric: Int32
        var sampleName: String
        var labels: [Label]
    }

    private struct BucketSlot {
        var metric: Int32
        var labels: [Label]
        /// The bound as first seen (Python keeps the first key of equal floats).
        var bound: Double
    }

    private enum SlotKind {
        case sample(SampleSlot)
        case bucket(BucketSlot)
    }

    private var metrics: [MetricInfo] = []
    private var metricIndex: [ExactString: Int32] = [:]
    private var slotOps: [MergeOp] = []
    private var slotKinds: [SlotKind] = []
    private var sampleSlots: [SampleSlotKey: Int32] = [:]
    private var bucketSlots: [BucketSlotKey: Int32] = [:]
    private(set) var problems: [Problem] = []

    /// Builds the plan for `files` (merge order) with keys from `keys`.
    static func build(files: [MergeInputFile], keys: KeyTable) -> (MergePlan, [Problem]) {
        var builder = MergePlanBuilder()
        return (builder.run(files: files, keys: keys), builder.problems)
    }

    private mutating func run(files: [MergeInputFile], keys: KeyTable) -> MergePlan {
        let decoded = keys.decoded

        // The metric of each key, looked up once per distinct key (-2: not yet, -1: undecodable).
        var metricOfKey = [Int32](repeating: -2, count: keys.count)

        // Pass 1: metric type, help and gauge mode, in file order.
        for file in files {
            let fileMode = file.name.gaugeMode
            for id in file.keyIDs {
                var index = metricOfKey[Int(id)]
                if index == -2 {
                    guard case .success(let key) = decoded[Int(id)] else { metricOfKey[Int(id)] = -1; continue }
                    if let known = metricIndex[ExactString(key.metricName)] {
                        index = known
                    } else {
                        index = Int32(metrics.count)
                        metricIndex[ExactString(key.metricName)] = index
                        metrics.append(MetricInfo(name: key.metricName, type: file.name.type, help: key.help, mode: nil))
                    }
                    metricOfKey[Int(id)] = index
                }
                if index >= 0, let fileMode { metrics[Int(index)].mode = fileMode }
            }
        }

        // Pass 2: the slot of every entry. The slot of a key depends on the file only through
        // its pid, so it is memoised per key (and per key and pid where the pid is kept).
        var memoWithoutPid = [Int32](repeating: -2, count: keys.count)
        var memoWithPid: [Int64: Int32] = [:]
        var pidIndex: [ExactString: Int64] = [:]
        var entrySlots: [[Int32]] = []
        entrySlots.reserveCapacity(files.count)
        for (fileIndex, file) in files.enumerated() {
            let isGaugeFile = file.name.type == .gauge
            var pidNumber: Int64 = -1
            if isGaugeFile {
                if let known = pidIndex[ExactString(file.name.pid)] { pidNumber = known } else {
                    pidNumber = Int64(pidIndex.count)
                    pidIndex[ExactString(file.name.pid)] = pidNumber
                }
            }
            var slots = [Int32](repeating: -1, count: file.keyIDs.count)
            for (j, id) in file.keyIDs.enumerated() {
                let metric = metricOfKey[Int(id)]
                if metric < 0 { continue }
                let keepsPid = isGaugeFile && !metrics[Int(metric)].dropsPid
                if keepsPid {
                    let memoKey = Int64(id) << 32 | pidNumber
                    if let slot = memoWithPid[memoKey] { slots[j] = slot; continue }
                    guard case .success(let key) = decoded[Int(id)] else { continue }
                    var labels = key.labels
                    labels.append(Label(name: "pid", value: file.name.pid))
                    let (slot, reusable) = slotFor(metric: metric, key: key, labels: labels, fileIndex: fileIndex)
                    if reusable { memoWithPid[memoKey] = slot }
                    slots[j] = slot
                } else {
                    let memo = memoWithoutPid[Int(id)]
                    if memo != -2 { slots[j] = memo; continue }
                    guard case .success(let key) = decoded[Int(id)] else { continue }
                    var labels = key.labels
                    if metrics[Int(metric)].dropsPid { labels.removeAll { $0.name.exactlyEquals("pid") } }
                    let (slot, reusable) = slotFor(metric: metric, key: key, labels: labels, fileIndex: fileIndex)
                    if reusable { memoWithoutPid[Int(id)] = slot }
                    slots[j] = slot
                }
            }
            entrySlots.append(slots)
        }

        return assemble(entrySlots: entrySlots)
    }

    /// The slot for one (metric, key, label tuple), creating it on first use, and whether later
    /// entries with the same key may reuse it.
    ///
    /// A NaN bucket bound is the exception: Python parses `le` into a new float object per
    /// entry, and NaN objects are distinct dict keys, so every such entry is a bucket of its own.
    private mutating func slotFor(metric: Int32, key: SampleKey, labels: [Label], fileIndex: Int) -> (Int32, reusable: Bool) {
        let info = metrics[Int(metric)]
        if info.type == .histogram, let le = labels.first(where: { $0.name.exactlyEquals("le") }) {
            guard let bound = PythonFloat.parse(le.value) else {
                problems.append(Problem(fileIndex: fileIndex, reason: .invalidBucketBound,
                                        detail: "bucket of \(key.sampleName) has le=\(le.value.debugDescription), not a number"))
                return (-1, true)
            }
            let withoutLe = labels.filter { !$0.name.exactlyEquals("le") }
            if bound.isNaN { return (newSlot(.sum, .bucket(BucketSlot(metric: metric, labels: withoutLe, bound: bound))), false) }
            // Equal floats share a bucket (1 and 1.0, -0.0 and 0.0).
            let slotKey = BucketSlotKey(metric: metric, labels: withoutLe, bound: bound == 0 ? 0 : bound.bitPattern)
            if let slot = bucketSlots[slotKey] { return (slot, true) }
            let slot = newSlot(.sum, .bucket(BucketSlot(metric: metric, labels: withoutLe, bound: bound)))
            bucketSlots[slotKey] = slot
            return (slot, true)
        }
        let slotKey = SampleSlotKey(metric: metric, sampleName: ExactString(key.sampleName), labels: labels)
        if let slot = sampleSlots[slotKey] { return (slot, true) }
        let slot = newSlot(info.op, .sample(SampleSlot(metric: metric, sampleName: key.sampleName, labels: labels)))
        sampleSlots[slotKey] = slot
        return (slot, true)
    }

    private mutating func newSlot(_ op: MergeOp, _ kind: SlotKind) -> Int32 {
        slotOps.append(op)
        slotKinds.append(kind)
        return Int32(slotOps.count - 1)
    }

    // MARK: Output layout

    /// Labels as Python renders a sample: `dict(tuple)` (later names win) sorted by name.
    static func renderedLabels(_ labels: [Label]) -> [Label] {
        var byName: [ExactString: String] = [:]
        for label in labels { byName[ExactString(label.name)] = label.value }
        if byName.count == labels.count, isSortedByName(labels) { return labels }
        return byName.map { Label(name: $0.key.value, value: $0.value) }.sorted { $0.name.exactlyPrecedes($1.name) }
    }

    private static func isSortedByName(_ labels: [Label]) -> Bool {
        zip(labels, labels.dropFirst()).allSatisfy { $0.name.exactlyPrecedes($1.name) }
    }

    private struct SortableLine {
        var groupLabels: [Label]
        var rank: Int
        var bound: Double
        var line: LinePlan
    }

    private func assemble(entrySlots: [[Int32]]) -> MergePlan {
        var linesByMetric = [[SortableLine]](repeating: [], count: metrics.count)

        // Histogram bucket groups: per (metric, labels without le), slots sorted by bound.
        var groups: [[Int32]] = []
        var groupIndex: [SampleSlotKey: Int32] = [:]
        for (slot, kind) in slotKinds.enumerated() {
            guard case .bucket(let b) = kind else { continue }
            let key = SampleSlotKey(metric: b.metric, sampleName: ExactString(""), labels: b.labels)
            if let g = groupIndex[key] { groups[Int(g)].append(Int32(slot)) } else {
                groupIndex[key] = Int32(groups.count)
                groups.append([Int32(slot)])
            }
        }
        func bound(_ slot: Int32) -> Double {
            guard case .bucket(let b) = slotKinds[Int(slot)] else { return 0 }
            return b.bound
        }
        // `sorted(values.items())` over the buckets in insertion order (creation order here).
        for g in groups.indices {
            groups[g] = PythonListSort.sorted(groups[g]) { bound($0) < bound($1) }
        }
        var shadowedCounts = Set<SampleSlotKey>()
        for (key, g) in groupIndex {
            let info = metrics[Int(key.metric)]
            let rendered = Self.renderedLabels(key.labels)
            // All NaN buckets render as le="NaN" and overwrite one another: one line, holding
            // the running total at the last of them.
            let lastNaN = groups[Int(g)].lastIndex { bound($0).isNaN }
            for (i, slot) in groups[Int(g)].enumerated() {
                if bound(slot).isNaN, i != lastNaN { continue }
                let le = Label(name: "le", value: FloatFormat.goString(bound(slot)))
                let line = LinePlan(sampleName: info.name + "_bucket", labels: Self.renderedLabels(key.labels + [le]),
                                    value: .cumulativeBucket(group: g, index: Int32(i)), textSuffix: nil)
                linesByMetric[Int(key.metric)].append(SortableLine(groupLabels: rendered, rank: 0, bound: bound(slot), line: line))
            }
            let countName = info.name + "_count"
            shadowedCounts.insert(SampleSlotKey(metric: key.metric, sampleName: ExactString(countName), labels: key.labels))
            let line = LinePlan(sampleName: countName, labels: rendered, value: .bucketCount(group: g), textSuffix: nil)
            linesByMetric[Int(key.metric)].append(SortableLine(groupLabels: rendered, rank: 1, bound: 0, line: line))
        }

        for (slot, kind) in slotKinds.enumerated() {
            guard case .sample(let s) = kind else { continue }
            // `samples[labels][(metric_count, labels)] = acc` replaces a stored sample of that key.
            if shadowedCounts.contains(SampleSlotKey(metric: s.metric, sampleName: ExactString(s.sampleName), labels: s.labels)) { continue }
            let info = metrics[Int(s.metric)]
            let rendered = Self.renderedLabels(s.labels)
            let suffix = ["_created", "_gsum", "_gcount"].first { s.sampleName.exactlyEquals(info.name + $0) }
            let line = LinePlan(sampleName: s.sampleName, labels: rendered, value: .slot(Int32(slot)), textSuffix: suffix)
            linesByMetric[Int(s.metric)].append(SortableLine(groupLabels: rendered, rank: 2, bound: 0, line: line))
        }

        var families: [FamilyPlan] = []
        families.reserveCapacity(metrics.count)
        for (m, info) in metrics.enumerated() {
            let sorted = linesByMetric[m].sorted(by: Self.lineOrder)
            families.append(FamilyPlan(name: info.name, type: info.type, help: info.help, lines: sorted.map(\.line)))
        }
        families.sort { $0.name.exactlyPrecedes($1.name) }
        return MergePlan(slotOps: slotOps, entrySlots: entrySlots, bucketGroups: groups, families: families)
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
