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
/// which is always correct. The code that slots entries is one for both (PlanBuilder+Slotting.swift):
/// where file order decides, it asks its ``BuildPass``, and only an incremental update can
/// give up (``OrderDependent``).
struct PlanBuilder {

    // MARK: State (the types are in PlanBuilder+State.swift)

    // Invariants: `metrics`, `slotsByMetric` are indexed by metric number; `slotOps`,
    // `slotKinds`, `contributors` by slot number, all three always the same length;
    // `metricOfKey` and the per-key table of `memos` by key id (grown on demand to the key
    // table's size).
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
    var dirtyMetrics: Set<Int32> = []
    var sampleSlots: [SampleSlotKey: Int32] = [:]
    var bucketSlots: [BucketSlotKey: Int32] = [:]
    /// The slot every entry feeds, once worked out.
    var memos = SlotMemos()

    /// Some bucket has a NaN bound: its place among the buckets depends on which files hold
    /// which keys and in what order, so every change rebuilds.
    var hasNaNBucket = false
    var fileStates: [Int: FileState] = [:]
    /// The files (ids) the plan was built from, in merge order.
    var order: [Int] = []
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
        do {
            return try updateIncrementally(files: files, ids: ids, keys: keys)
        } catch {
            // What changed depends on file order (``OrderDependent``): only a full build knows.
            rebuild(files: files, keys: keys)
            return Outcome(changed: true, rebuilt: true)
        }
    }

    /// Withdraws the files gone or reset, slots the new entries, and lays out again the
    /// families whose series changed.
    private mutating func updateIncrementally(files: [TrackedFile], ids: [Int], keys: KeyTable) throws(OrderDependent) -> Outcome {
        var changed = false
        var fedSlots: [Int32] = []
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
            try add(file: file, from: known, keys: keys, IncrementalUpdate.self)
            fedSlots += fileStates[file.id]!.slots[known...].lazy.filter { $0 != MergePlan.noSlot }
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

    /// A new slot: `op` combines what lands in it, `kind` says what series it is.
    mutating func newSlot(_ op: MergeOp, _ kind: SlotKind) -> Int32 {
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
