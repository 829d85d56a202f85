// MARK: - Compiling the merge, incrementally

/// Compiles the merge of the files in a directory into a ``MergePlan`` and keeps it current
/// as files come, grow and go, doing work in proportion to what changed.
///
/// The rules, from prometheus_client 0.26.0 `multiprocess.py`:
/// - a metric's type and help come from the first entry seen for it; a gauge's mode from the
///   last gauge file holding one of its entries;
/// - entries of gauge files carry an extra `pid` label (appended after the sorted labels);
///   gauges in min/max/sum/mostrecent modes (and their live variants) drop every `pid` label;
/// - histogram entries with an `le` label feed bucket `(labels without le, float(le))`; the
///   buckets of a label set are sorted by bound, made cumulative, and give `_count`;
/// - everything else with the same (sample name, labels) is combined by the metric's op.
///
/// "First" and "last" depend on the order of files, so a change is applied incrementally
/// only when it cannot move them: every file agrees on a metric's type, help and mode (the
/// normal case), the files already known keep their relative order, and no bucket has a NaN
/// bound (whose place among the buckets depends on which files hold which keys). Anything
/// else rebuilds from scratch, which is always correct.
struct PlanBuilder {

    // MARK: State

    private struct MetricInfo {
        var name: String
        var type: MetricType
        var help: String
        var mode: GaugeMode?
        /// Files disagree on type, help or mode: its result depends on file order.
        var conflicted = false

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

    struct SampleSlotKey: Hashable {
        var metric: Int32
        var sampleName: ExactString
        var labels: [Label]
    }

    private struct BucketSlotKey: Hashable {
        var metric: Int32
        var labels: [Label]
        var bound: UInt64
    }

    enum SlotKind {
        case sample(metric: Int32, sampleName: String, labels: [Label])
        /// `bound` as first seen (Python keeps the first key of equal floats).
        case bucket(metric: Int32, labels: [Label], bound: Double)

        var metric: Int32 {
            switch self {
            case .sample(let m, _, _), .bucket(let m, _, _): return m
            }
        }
    }

    /// What the builder remembers of each file it has slotted.
    private struct FileState {
        var epoch: Int
        var slots: [Int32]
        var problems: [FileProblem]
        /// Metrics this file feeds (to know whether removing it touches a conflicted one).
        var metrics: Set<Int32>
    }

    private var metrics: [MetricInfo] = []
    private var metricIndex: [ExactString: Int32] = [:]
    private var metricOfKey: [Int32] = []

    private(set) var slotOps: [MergeOp] = []
    private(set) var slotKinds: [SlotKind] = []
    /// Entries currently feeding each slot; a slot with none is not in the output.
    private var contributors: [Int32] = []
    /// Slots of each metric, in creation order.
    private var slotsByMetric: [[Int32]] = []
    /// Metrics whose set of fed slots changed since the plan was last assembled.
    private var dirtyMetrics: Set<Int32> = []
    /// Slots that gained entries during the current update.
    private var fedSlots: [Int32] = []
    private var sampleSlots: [SampleSlotKey: Int32] = [:]
    private var bucketSlots: [BucketSlotKey: Int32] = [:]
    private var memoWithoutPid: [Int32] = []
    private var memoWithPid: [Int64: Int32] = [:]
    private var pidIndex: [ExactString: Int64] = [:]

    /// Some bucket has a NaN bound: its place among the buckets depends on which files hold
    /// which keys and in what order, so every change rebuilds.
    private var hasNaNBucket = false
    private var fileStates: [Int: FileState] = [:]
    private var order: [Int] = []
    private(set) var plan: MergePlan = MergePlan.empty
    private var assembler = PlanAssembler()

    /// Memo value for "not computed" and for "bucket bound is not a number".
    private static let unknown: Int32 = -2
    private static let invalidBound: Int32 = -3

    // MARK: Updating

    /// What ``update(files:keys:)`` did.
    struct Outcome {
        var changed = false
        /// Rebuilt from scratch: slot numbers start over.
        var rebuilt = false
        /// Slots that gained entries (when not rebuilt): all from files that are not frozen.
        var fedSlots: [Int32] = []
    }

    /// Brings the plan up to date with `files` (merge order).
    mutating func update(files: [TrackedFile], keys: KeyTable) -> Outcome {
        let ids = files.map(\.id)
        // A first build (or a directory the plan knew nothing of) takes the full path: one
        // pass for metrics, one for slots, no per-entry bookkeeping of changes.
        if fileStates.isEmpty || !canUpdateIncrementally(files: files, ids: ids) || tooManyDeadSlots {
            rebuild(files: files, keys: keys)
            return Outcome(changed: true, rebuilt: true)
        }
        var changed = false
        fedSlots = []
        // Files gone, or whose entries were reset: withdraw their contributions.
        let current = Set(ids)
        for (id, state) in fileStates where !current.contains(id) {
            withdraw(state)
            fileStates[id] = nil
            changed = true
        }
        for file in files {
            let id = file.id
            if let state = fileStates[id], state.epoch != file.epoch {
                withdraw(state)
                fileStates[id] = nil
            }
        }
        // New entries, in merge order.
        for file in files {
            let id = file.id
            let known = fileStates[id]?.slots.count ?? 0
            if known == file.keyIDs.count, fileStates[id] != nil { continue }
            guard add(file: file, from: known, keys: keys, incremental: true) else {
                rebuild(files: files, keys: keys)
                return Outcome(changed: true, rebuilt: true)
            }
            changed = true
        }
        order = ids
        if !dirtyMetrics.isEmpty {
            let dirty = dirtyMetrics
            dirtyMetrics = []
            plan = assembler.assemble(builder: self, dirty: dirty)
        } else if changed {
            // Same series, same layout: only the slot table may have grown.
            plan = MergePlan(slotOps: slotOps, families: plan.families)
        }
        return Outcome(changed: changed, rebuilt: false, fedSlots: fedSlots)
    }

    /// The slots of `file`'s entries, in entry order (-1: left out).
    func slots(of file: TrackedFile) -> [Int32] {
        fileStates[file.id]?.slots ?? []
    }

    /// Problems found while slotting (bucket bounds that are not numbers), per file.
    func problems(of file: TrackedFile) -> [FileProblem] {
        fileStates[file.id]?.problems ?? []
    }

    // MARK: Incremental rules

    private func canUpdateIncrementally(files: [TrackedFile], ids: [Int]) -> Bool {
        if hasNaNBucket { return false }
        // Known files must keep their relative order.
        let position = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        var last = -1
        for id in order {
            guard let p = position[id] else { continue }
            if p < last { return false }
            last = p
        }
        // A removed or reset file must not touch a metric whose result depends on order.
        for (id, state) in fileStates {
            let gone = position[id] == nil || files[position[id]!].epoch != state.epoch
            if gone, state.metrics.contains(where: { metrics[Int($0)].conflicted }) { return false }
        }
        return true
    }

    /// Rebuilding drops slots nobody feeds any more (per-pid series of departed workers).
    private var tooManyDeadSlots: Bool {
        contributors.count > 4096 && contributors.lazy.filter { $0 == 0 }.count * 2 > contributors.count
    }

    private mutating func withdraw(_ state: FileState) {
        for slot in state.slots where slot >= 0 {
            contributors[Int(slot)] -= 1
            if contributors[Int(slot)] == 0 { dirtyMetrics.insert(slotKinds[Int(slot)].metric) }
        }
    }

    // MARK: Full build

    private mutating func rebuild(files: [TrackedFile], keys: KeyTable) {
        self = PlanBuilder()
        // Pass 1: type and help from the first entry, gauge mode from the last gauge file.
        metricOfKey = [Int32](repeating: Self.unknown, count: keys.count)
        for file in files {
            for id in file.keyIDs { _ = declareMetric(key: id, file: file.parsedName, keys: keys, incremental: false) }
        }
        // Pass 2: slots.
        for file in files { _ = add(file: file, from: 0, keys: keys, incremental: false) }
        order = files.map(\.id)
        dirtyMetrics = []
        fedSlots = []
        plan = assembler.assemble(builder: self, dirty: nil)
    }

    /// The metric of a key, declared on first sight. Incrementally, a key that disagrees with
    /// what is known of its metric returns nil (the caller rebuilds); in a full build it marks
    /// the metric conflicted and applies Python's rule (gauge mode: last file wins).
    private mutating func declareMetric(key id: KeyTable.ID, file: MetricFileName, keys: KeyTable, incremental: Bool) -> Int32? {
        if metricOfKey.count < keys.count {
            metricOfKey += [Int32](repeating: Self.unknown, count: keys.count - metricOfKey.count)
        }
        var index = metricOfKey[Int(id)]
        if index == Self.unknown {
            guard case .success(let key) = keys.decoded[Int(id)] else { metricOfKey[Int(id)] = -1; return -1 }
            if let known = metricIndex[ExactString(key.metricName)] {
                index = known
                let info = metrics[Int(known)]
                if info.type != file.type || !info.help.exactlyEquals(key.help) {
                    if incremental { return nil }
                    metrics[Int(known)].conflicted = true
                }
            } else {
                index = Int32(metrics.count)
                metricIndex[ExactString(key.metricName)] = index
                metrics.append(MetricInfo(name: key.metricName, type: file.type, help: key.help, mode: file.gaugeMode))
            }
            metricOfKey[Int(id)] = index
        } else if index >= 0 {
            // A key seen before: same help by construction; the file may still differ in type.
            if metrics[Int(index)].type != file.type {
                if incremental { return nil }
                metrics[Int(index)].conflicted = true
            }
        }
        if index >= 0, let mode = file.gaugeMode, metrics[Int(index)].mode != mode {
            if incremental { return nil }
            if metrics[Int(index)].mode != nil { metrics[Int(index)].conflicted = true }
            metrics[Int(index)].mode = mode
        }
        return index
    }

    /// Slots the entries of `file` from `start` on. Returns false (incremental only) when the
    /// change needs a full rebuild.
    private mutating func add(file: TrackedFile, from start: Int, keys: KeyTable, incremental: Bool) -> Bool {
        let id = file.id
        var state = fileStates[id] ?? FileState(epoch: file.epoch, slots: [], problems: [], metrics: [])
        let name = file.parsedName
        let isGaugeFile = name.type == .gauge
        var pidNumber: Int64 = -1
        if isGaugeFile {
            if let known = pidIndex[ExactString(name.pid)] { pidNumber = known } else {
                pidNumber = Int64(pidIndex.count)
                pidIndex[ExactString(name.pid)] = pidNumber
            }
        }
        if memoWithoutPid.count < keys.count {
            memoWithoutPid += [Int32](repeating: Self.unknown, count: keys.count - memoWithoutPid.count)
        }
        let keyIDs = file.keyIDs
        state.slots.reserveCapacity(keyIDs.count)
        let decoded = keys.decoded
        // Entries of one metric come in runs: look the metric's flags up once per run.
        var runMetric: Int32 = -1
        var runDropsPid = false
        for j in start..<keyIDs.count {
            let keyID = keyIDs[j]
            var metric: Int32 = metricOfKey.count > Int(keyID) ? metricOfKey[Int(keyID)] : Self.unknown
            if incremental || metric == Self.unknown {
                guard let declared = declareMetric(key: keyID, file: name, keys: keys, incremental: incremental) else { return false }
                metric = declared
            }
            if metric < 0 { state.slots.append(-1); continue }
            if metric != runMetric {
                runMetric = metric
                runDropsPid = metrics[Int(metric)].dropsPid
                state.metrics.insert(metric)
            }
            let keepsPid = isGaugeFile && !runDropsPid
            var slot: Int32
            if keepsPid {
                let memoKey = Int64(keyID) << 32 | pidNumber
                if let memo = memoWithPid[memoKey] { slot = memo } else {
                    guard case .success(let key) = decoded[Int(keyID)] else { state.slots.append(-1); continue }
                    var labels = key.labels
                    labels.append(Label(name: "pid", value: name.pid))
                    guard let made = slotFor(metric: metric, key: key, labels: labels, incremental: incremental) else { return false }
                    slot = made.slot
                    if made.reusable { memoWithPid[memoKey] = slot }
                }
            } else {
                let memo = memoWithoutPid[Int(keyID)]
                if memo != Self.unknown { slot = memo } else {
                    guard case .success(let key) = decoded[Int(keyID)] else { state.slots.append(-1); continue }
                    var labels = key.labels
                    if runDropsPid { labels.removeAll { $0.name.exactlyEquals("pid") } }
                    guard let made = slotFor(metric: metric, key: key, labels: labels, incremental: incremental) else { return false }
                    slot = made.slot
                    if made.reusable { memoWithoutPid[Int(keyID)] = slot }
                }
            }
            if slot == Self.invalidBound {
                if case .success(let key) = decoded[Int(keyID)] {
                    let le = key.labels.first { $0.name.exactlyEquals("le") }?.value ?? ""
                    state.problems.append(FileProblem(file: file.name, reason: .invalidBucketBound,
                                                      detail: "bucket of \(key.sampleName) has le=\(le.debugDescription), not a number; entry skipped"))
                }
                state.slots.append(-1)
                continue
            }
            if contributors[Int(slot)] == 0 { dirtyMetrics.insert(metric) }
            contributors[Int(slot)] += 1
            if incremental { fedSlots.append(slot) }
            state.slots.append(slot)
        }
        fileStates[id] = state
        return true
    }

    /// The slot for one (metric, key, label tuple), creating it on first use, and whether later
    /// entries with the same key may reuse it. Nil: a NaN bucket met incrementally.
    ///
    /// A NaN bucket bound is the exception to reuse: Python parses `le` into a new float object
    /// per entry, and NaN objects are distinct dict keys, so every such entry is a bucket of its
    /// own, placed by file order (which only a full build knows).
    private mutating func slotFor(metric: Int32, key: SampleKey, labels: [Label], incremental: Bool) -> (slot: Int32, reusable: Bool)? {
        let info = metrics[Int(metric)]
        if info.type == .histogram, let le = labels.first(where: { $0.name.exactlyEquals("le") }) {
            guard let bound = PythonFloat.parse(le.value) else { return (Self.invalidBound, true) }
            let withoutLe = labels.filter { !$0.name.exactlyEquals("le") }
            if bound.isNaN {
                if incremental { return nil }
                hasNaNBucket = true
                return (newSlot(.sum, .bucket(metric: metric, labels: withoutLe, bound: bound)), false)
            }
            // Equal floats share a bucket (1 and 1.0, -0.0 and 0.0).
            let slotKey = BucketSlotKey(metric: metric, labels: withoutLe, bound: bound == 0 ? 0 : bound.bitPattern)
            if let slot = bucketSlots[slotKey] { return (slot, true) }
            let slot = newSlot(.sum, .bucket(metric: metric, labels: withoutLe, bound: bound))
            bucketSlots[slotKey] = slot
            return (slot, true)
        }
        let slotKey = SampleSlotKey(metric: metric, sampleName: ExactString(key.sampleName), labels: labels)
        if let slot = sampleSlots[slotKey] { return (slot, true) }
        let slot = newSlot(info.op, .sample(metric: metric, sampleName: key.sampleName, labels: labels))
        sampleSlots[slotKey] = slot
        return (slot, true)
    }

    private mutating func newSlot(_ op: MergeOp, _ kind: SlotKind) -> Int32 {
        let slot = Int32(slotOps.count)
        slotOps.append(op)
        slotKinds.append(kind)
        contributors.append(0)
        let metric = Int(kind.metric)
        if slotsByMetric.count <= metric { slotsByMetric += [[Int32]](repeating: [], count: metric + 1 - slotsByMetric.count) }
        slotsByMetric[metric].append(slot)
        return slot
    }

    // MARK: What the assembler reads

    func isLive(slot: Int) -> Bool { contributors[slot] > 0 }
    func slots(ofMetric metric: Int32) -> [Int32] { Int(metric) < slotsByMetric.count ? slotsByMetric[Int(metric)] : [] }
    func metricInfo(_ index: Int32) -> (name: String, type: MetricType, help: String) {
        let m = metrics[Int(index)]
        return (m.name, m.type, m.help)
    }
    var metricCount: Int { metrics.count }
}
