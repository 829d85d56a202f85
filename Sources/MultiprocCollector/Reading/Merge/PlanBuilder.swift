// MARK: - Compiling the merge, incrementally

/// Compiles the merge of the files in a directory into a ``MergePlan`` and keeps it current
/// as files come, grow and go, doing work in proportion to what changed.
///
/// The rules, from prometheus_client 0.26.0 `multiprocess.py`:
/// - a metric's type and help come from the first entry seen for it; a gauge's mode from the
///   last gauge file holding one of its entries;
/// - (ours: keys of releases before 0.4) a counter key stored as `[orders_total,
///   orders_total, ...]` belongs to family `orders`, as later releases store it
///   (``SampleKey/familyName(in:)``);
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
/// else rebuilds from scratch (``rebuild(files:keys:)`` in PlanBuilder+FullBuild.swift),
/// which is always correct.
struct PlanBuilder {

    // MARK: State (the types are in PlanBuilder+State.swift)

    // Invariants: `metrics`, `slotsByMetric` are indexed by metric number; `slotOps`,
    // `slotKinds`, `contributors` by slot number, all three always the same length;
    // `metricOfKey` and `memoWithoutPid` by key id (grown on demand to the key table's size).
    var metrics: [MetricInfo] = []
    var metricIndex: [ExactString: Int32] = [:]
    var metricOfKey: [KeyMetric] = []

    private(set) var slotOps: [MergeOp] = []
    private(set) var slotKinds: [SlotKind] = []
    /// Entries currently feeding each slot; a slot with none is not in the output.
    var contributors: [Int32] = []
    /// Slots of each metric, in creation order.
    private var slotsByMetric: [[Int32]] = []
    /// Metrics whose set of fed slots changed since the plan was last assembled.
    private var dirtyMetrics: Set<Int32> = []
    /// Slots that gained entries during the current incremental update.
    private var fedSlots: [Int32] = []
    private var sampleSlots: [SampleSlotKey: Int32] = [:]
    private var bucketSlots: [BucketSlotKey: Int32] = [:]
    /// The slot of entries that feed one slot whatever file holds them (every key but those
    /// of `all`/`liveall` gauge files).
    var memoWithoutPid: [SlotMemo] = []
    /// The slot of each entry of an `all`/`liveall` gauge file.
    var memoWithPid: [PidSlotKey: Int32] = [:]
    var pidIndex: [ExactString: Int32] = [:]

    /// Some bucket has a NaN bound: its place among the buckets depends on which files hold
    /// which keys and in what order, so every change rebuilds.
    var hasNaNBucket = false
    var fileStates: [Int: FileState] = [:]
    /// The files (ids) the plan was built from, in merge order.
    var order: [Int] = []
    var pass = Pass.fullBuild
    var plan: MergePlan = MergePlan.empty
    var assembler = PlanAssembler()

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
        // A first build (or a directory the plan knew nothing of) takes the full path.
        if fileStates.isEmpty || !canUpdateIncrementally(files: files, ids: ids) || tooManyDeadSlots {
            rebuild(files: files, keys: keys)
            return Outcome(changed: true, rebuilt: true)
        }
        pass = .incrementalUpdate
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
            if let state = fileStates[file.id], state.epoch != file.epoch {
                withdraw(state)
                fileStates[file.id] = nil
            }
        }
        // New entries, in merge order.
        for file in files {
            let known = fileStates[file.id]?.slots.count ?? 0
            if fileStates[file.id] != nil, known == file.keyIDs.count { continue }
            guard add(file: file, from: known, keys: keys) else {
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

    /// The slots of `file`'s entries, in entry order (``MergePlan/noSlot``: left out).
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
            let gone = position[id].map { files[$0].epoch != state.epoch } ?? true
            if gone, state.metrics.contains(where: { metrics[Int($0)].conflicted }) { return false }
        }
        return true
    }

    /// Rebuilding drops slots nobody feeds any more (per-pid series of departed workers).
    private var tooManyDeadSlots: Bool {
        contributors.count > 4096 && contributors.lazy.filter { $0 == 0 }.count * 2 > contributors.count
    }

    private mutating func withdraw(_ state: FileState) {
        for slot in state.slots where slot != MergePlan.noSlot {
            contributors[Int(slot)] -= 1
            if contributors[Int(slot)] == 0 { dirtyMetrics.insert(slotKinds[Int(slot)].metric) }
        }
    }

    // MARK: Metrics and slots

    /// Grows the per-key tables to the key table's size.
    mutating func coverKeys(_ keys: KeyTable) {
        if metricOfKey.count < keys.count { metricOfKey += Array(repeating: .unknown, count: keys.count - metricOfKey.count) }
        if memoWithoutPid.count < keys.count { memoWithoutPid += Array(repeating: .unknown, count: keys.count - memoWithoutPid.count) }
    }

    /// The metric of a key, declared on first sight. A key that disagrees with what is known
    /// of its metric is handled as ``pass`` says; nil means "rebuild" (incremental only).
    mutating func declareMetric(key id: KeyTable.ID, file: MetricFileName, keys: KeyTable) -> KeyMetric? {
        var known = metricOfKey[Int(id)]
        if known == .unknown {
            guard case .success(let key) = keys.decoded[Int(id)] else {
                metricOfKey[Int(id)] = .undecodable
                return .undecodable
            }
            let family = key.familyName(in: file.type)
            if let index = metricIndex[ExactString(family)] {
                let info = metrics[Int(index)]
                if info.type != file.type || !info.help.exactlyEquals(key.help) {
                    guard pass == .fullBuild else { return nil }
                    metrics[Int(index)].conflicted = true
                }
                known = .metric(index)
            } else {
                let index = Int32(metrics.count)
                metricIndex[ExactString(family)] = index
                metrics.append(MetricInfo(name: family, type: file.type, help: key.help, mode: file.gaugeMode))
                known = .metric(index)
            }
            metricOfKey[Int(id)] = known
        } else if case .metric(let index) = known, metrics[Int(index)].type != file.type {
            // A key seen before: same help by construction; the file may still differ in type.
            guard pass == .fullBuild else { return nil }
            metrics[Int(index)].conflicted = true
        }
        // Which file comes first (type, help) or last (mode) decides a metric whose files
        // disagree, and a new entry, even of a known key, may be in an earlier or later file.
        if case .metric(let index) = known, pass != .fullBuild, metrics[Int(index)].conflicted { return nil }
        if case .metric(let index) = known, let mode = file.gaugeMode, metrics[Int(index)].mode != mode {
            guard pass == .fullBuild else { return nil }
            if metrics[Int(index)].mode != nil { metrics[Int(index)].conflicted = true }
            metrics[Int(index)].mode = mode
        }
        return known
    }

    /// The number standing for `pid` in ``PidSlotKey``s.
    mutating func pidNumber(_ pid: String) -> Int32 {
        if let known = pidIndex[ExactString(pid)] { return known }
        let number = Int32(pidIndex.count)
        pidIndex[ExactString(pid)] = number
        return number
    }

    /// The slot entries of `keyID` in a file of `pid` feed, created (and memoized) on first
    /// use; nil for an incremental pass that meets a NaN bucket.
    mutating func slot(key keyID: KeyTable.ID, metric: Int32, keepsPid: Bool, pid: String, pidNumber: Int32, keys: KeyTable) -> SlotMemo? {
        if keepsPid {
            let memoKey = PidSlotKey(key: keyID, pid: pidNumber)
            if let slot = memoWithPid[memoKey] { return .slot(slot) }
        } else if memoWithoutPid[Int(keyID)] != .unknown {
            return memoWithoutPid[Int(keyID)]
        }
        guard case .success(let key) = keys.decoded[Int(keyID)] else { return .leftOut }
        var labels = key.labels
        if keepsPid {
            labels.append(Label(name: "pid", value: pid))
        } else if metrics[Int(metric)].dropsPid {
            labels.removeAll { $0.name.exactlyEquals("pid") }
        }
        guard let (made, reusable) = slotFor(metric: metric, key: key, labels: labels) else { return nil }
        if reusable {
            if keepsPid, case .slot(let slot) = made {
                memoWithPid[PidSlotKey(key: keyID, pid: pidNumber)] = slot
            } else if !keepsPid {
                memoWithoutPid[Int(keyID)] = made
            }
        }
        return made
    }

    /// Slots the entries of `file` from `start` on, one at a time, in entry order. Returns
    /// false (incremental pass only) when the change needs a full rebuild.
    mutating func add(file: TrackedFile, from start: Int, keys: KeyTable) -> Bool {
        coverKeys(keys)
        var state = fileStates[file.id] ?? FileState(epoch: file.epoch, slots: [], problems: [], metrics: [])
        let name = file.parsedName
        let pidNumber = name.type == .gauge ? pidNumber(name.pid) : -1
        let keyIDs = file.keyIDs
        state.slots.reserveCapacity(keyIDs.count)
        // Entries of one metric come in runs: look the metric's flags up once per run.
        var run = MetricRun()
        for j in start..<keyIDs.count {
            let keyID = keyIDs[j]
            var known = metricOfKey[Int(keyID)]
            if pass == .incrementalUpdate || known == .unknown {
                guard let declared = declareMetric(key: keyID, file: name, keys: keys) else { return false }
                known = declared
            }
            guard case .metric(let metric) = known else {
                state.slots.append(MergePlan.noSlot)
                continue
            }
            if run.metric != metric {
                run = MetricRun(metric: metric, keepsPid: name.type == .gauge && !metrics[Int(metric)].dropsPid)
                state.metrics.insert(metric)
            }
            guard let memo = slot(key: keyID, metric: metric, keepsPid: run.keepsPid, pid: name.pid, pidNumber: pidNumber, keys: keys) else {
                return false
            }
            guard let slot = state.record(memo, key: keyID, file: file.name, keys: keys) else { continue }
            if contributors[Int(slot)] == 0 { dirtyMetrics.insert(metric) }
            contributors[Int(slot)] += 1
            if pass == .incrementalUpdate { fedSlots.append(slot) }
        }
        fileStates[file.id] = state
        return true
    }

    /// The problem reported for an entry whose bucket bound is not a number.
    static func invalidBoundProblem(file: String, key keyID: KeyTable.ID, keys: KeyTable) -> FileProblem {
        var sample = "", le = ""
        if case .success(let key) = keys.decoded[Int(keyID)] {
            sample = key.sampleName
            le = key.labels.first { $0.name.exactlyEquals("le") }?.value ?? ""
        }
        return FileProblem(file: file, reason: .invalidBucketBound,
                           detail: "bucket of \(sample) has le=\(le.debugDescription), not a number; entry skipped")
    }

    /// The slot for one (metric, key, label tuple), creating it on first use, and whether later
    /// entries with the same key may reuse it. Nil: a NaN bucket met by an incremental pass.
    ///
    /// A NaN bucket bound is the exception to reuse: Python parses `le` into a new float object
    /// per entry, and NaN objects are distinct dict keys, so every such entry is a bucket of its
    /// own, placed by file order (which only a full build knows).
    private mutating func slotFor(metric: Int32, key: SampleKey, labels: [Label]) -> (SlotMemo, reusable: Bool)? {
        let info = metrics[Int(metric)]
        if info.type == .histogram, let le = labels.first(where: { $0.name.exactlyEquals("le") }) {
            guard let bound = PythonFloat.parse(le.value) else { return (.invalidBound, true) }
            let withoutLe = labels.filter { !$0.name.exactlyEquals("le") }
            if bound.isNaN {
                guard pass == .fullBuild else { return nil }
                hasNaNBucket = true
                return (.slot(newSlot(.sum, .bucket(metric: metric, labels: withoutLe, bound: bound))), false)
            }
            // Equal floats share a bucket (1 and 1.0, -0.0 and 0.0).
            let slotKey = BucketSlotKey(metric: metric, labels: withoutLe, bound: bound == 0 ? 0 : bound.bitPattern)
            if let slot = bucketSlots[slotKey] { return (.slot(slot), true) }
            let slot = newSlot(.sum, .bucket(metric: metric, labels: withoutLe, bound: bound))
            bucketSlots[slotKey] = slot
            return (.slot(slot), true)
        }
        let slotKey = SampleSlotKey(metric: metric, sampleName: ExactString(key.sampleName), labels: labels)
        if let slot = sampleSlots[slotKey] { return (.slot(slot), true) }
        let slot = newSlot(info.op, .sample(metric: metric, sampleName: key.sampleName, labels: labels))
        sampleSlots[slotKey] = slot
        return (.slot(slot), true)
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

extension PlanBuilder.FileState {
    /// Records the slot of the file's next entry (``MergePlan/noSlot`` when it feeds none, with
    /// the problem of a bucket bound that is not a number); returns the slot it feeds, if any.
    mutating func record(_ memo: PlanBuilder.SlotMemo, key: KeyTable.ID, file: String, keys: KeyTable) -> Int32? {
        switch memo {
        case .slot(let slot):
            slots.append(slot)
            return slot
        case .invalidBound:
            problems.append(PlanBuilder.invalidBoundProblem(file: file, key: key, keys: keys))
            slots.append(MergePlan.noSlot)
            return nil
        case .leftOut, .unknown:
            slots.append(MergePlan.noSlot)
            return nil
        }
    }
}
