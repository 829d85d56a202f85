import Dispatch
import MultiprocSupport

// MARK: - Building the plan from scratch

extension PlanBuilder {

    /// Files from which a full build slots entries on two threads.
    static let parallelFiles = 16

    /// Builds the plan for `files` (merge order) from nothing, in three passes:
    /// 1. metrics: type and help from the first entry of each metric, the gauge mode from the
    ///    last gauge file (in merge order; each file's runs of one metric are looked at once);
    /// 2. slots: every series slot created where its first entry lies in merge order, so slot
    ///    numbers (and the order of what Python keeps first) are what a one-entry-at-a-time
    ///    build gives; entries whose slot exists cost one table read;
    /// 3. each file's per-entry slot array and contribution counts: independent per file, so
    ///    on two threads for many files.
    /// A NaN bucket bound gives each of its entries a slot of its own (see `slotFor`), which
    /// pass 3 cannot look up: the build then slots every entry one at a time instead.
    mutating func rebuild(files: [TrackedFile], keys: KeyTable) {
        self = PlanBuilder()
        coverKeys(keys)
        for file in files { declareMetrics(of: file, keys: keys) }
        for file in files { createSlots(for: file, keys: keys) }
        if hasNaNBucket {
            self = PlanBuilder()
            coverKeys(keys)
            for file in files { declareMetrics(of: file, keys: keys) }
            for file in files { _ = add(file: file, from: 0, keys: keys) }
        } else {
            countEntries(of: files, keys: keys)
        }
        order = files.map(\.id)
        plan = assembler.assemble(builder: self, dirty: nil)
    }

    /// Pass 1 for one file.
    private mutating func declareMetrics(of file: TrackedFile, keys: KeyTable) {
        var run = KeyMetric.unknown
        for id in file.keyIDs {
            let known = metricOfKey[Int(id)]
            // The rest of a run adds nothing: type and mode depend on (metric, file) only.
            if known != .unknown, known == run { continue }
            run = declareMetric(key: id, file: file.parsedName, keys: keys) ?? .unknown
        }
    }

    /// Pass 2 for one file: creates the slots its entries need that do not exist yet.
    private mutating func createSlots(for file: TrackedFile, keys: KeyTable) {
        let name = file.parsedName
        let pidNumber = name.type == .gauge ? pidNumber(name.pid) : -1
        var run = MetricRun()
        for id in file.keyIDs {
            guard case .metric(let metric) = metricOfKey[Int(id)] else { continue }
            if run.metric != metric { run = MetricRun(metric: metric, keepsPid: name.type == .gauge && !metrics[Int(metric)].dropsPid) }
            if !run.keepsPid, memoWithoutPid[Int(id)] != .unknown { continue }
            _ = slot(key: id, metric: metric, keepsPid: run.keepsPid, pid: name.pid, pidNumber: pidNumber, keys: keys)
        }
    }

    /// Pass 3: every file's slot array, problems and metrics, and every slot's contributors.
    private mutating func countEntries(of files: [TrackedFile], keys: KeyTable) {
        let lanes = files.count >= Self.parallelFiles ? 2 : 1
        let work = LaneWork(files: files, lookup: SlotLookup(builder: self, keys: keys), lanes: lanes)
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in work.run(lane: lane) }
        for result in work.results.withLock({ $0 }) {
            for (id, state) in result.states { fileStates[id] = state }
            for (slot, count) in result.contributors.enumerated() { contributors[slot] += count }
        }
    }
}

/// What pass 3 reads, copied out of the builder so lanes share nothing mutable.
private struct SlotLookup: @unchecked Sendable {
    let metricOfKey: [PlanBuilder.KeyMetric]
    let keepsPidOfMetric: [Bool]
    let memoWithoutPid: [PlanBuilder.SlotMemo]
    let memoWithPid: [PlanBuilder.PidSlotKey: Int32]
    let pidIndex: [ExactString: Int32]
    let slotCount: Int
    let keys: KeyTable

    init(builder: PlanBuilder, keys: KeyTable) {
        metricOfKey = builder.metricOfKey
        keepsPidOfMetric = builder.metrics.map { !$0.dropsPid }
        memoWithoutPid = builder.memoWithoutPid
        memoWithPid = builder.memoWithPid
        pidIndex = builder.pidIndex
        slotCount = builder.slotOps.count
        self.keys = keys
    }

    /// One file's state, counting its entries into `contributors`.
    func state(of file: TrackedFile, contributors: inout [Int32]) -> PlanBuilder.FileState {
        let name = file.parsedName
        let isGaugeFile = name.type == .gauge
        let pidNumber = isGaugeFile ? pidIndex[ExactString(name.pid)] ?? -1 : -1
        var state = PlanBuilder.FileState(epoch: file.epoch, slots: [], problems: [], metrics: [])
        state.slots.reserveCapacity(file.keyIDs.count)
        var run = PlanBuilder.MetricRun()
        for id in file.keyIDs {
            guard case .metric(let metric) = metricOfKey[Int(id)] else {
                state.slots.append(MergePlan.noSlot)
                continue
            }
            if run.metric != metric {
                run = PlanBuilder.MetricRun(metric: metric, keepsPid: isGaugeFile && keepsPidOfMetric[Int(metric)])
                state.metrics.insert(metric)
            }
            let memo = run.keepsPid
                ? memoWithPid[PlanBuilder.PidSlotKey(key: id, pid: pidNumber)].map(PlanBuilder.SlotMemo.slot) ?? .unknown
                : memoWithoutPid[Int(id)]
            if let slot = state.record(memo, key: id, file: file.name, keys: keys) { contributors[Int(slot)] += 1 }
        }
        return state
    }
}

/// The lanes of pass 3: each takes a contiguous part of the files (its files and results
/// stay together in memory) and counts into contributors of its own.
private final class LaneWork: @unchecked Sendable {
    struct Result {
        var states: [(Int, PlanBuilder.FileState)] = []
        var contributors: [Int32]
    }

    let files: [TrackedFile]
    let lookup: SlotLookup
    let bounds: [Int]
    let results = Locked<[Result]>([])

    init(files: [TrackedFile], lookup: SlotLookup, lanes: Int) {
        self.files = files
        self.lookup = lookup
        bounds = (0...lanes).map { files.count * $0 / lanes }
    }

    func run(lane: Int) {
        var result = Result(contributors: [Int32](repeating: 0, count: lookup.slotCount))
        for file in files[bounds[lane]..<bounds[lane + 1]] {
            result.states.append((file.id, lookup.state(of: file, contributors: &result.contributors)))
        }
        results.withLock { $0.append(result) }
    }
}
