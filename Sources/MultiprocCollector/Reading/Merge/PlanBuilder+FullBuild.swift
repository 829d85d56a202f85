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
    /// Passes 2 and 3 find each entry's slot as ``add(file:from:keys:_:)`` does, through an
    /// ``EntryWalk`` and ``SlotMemos``, so all three agree on every slot. A NaN bucket bound
    /// gives each of its entries a slot of its own (see `slotFor`), which pass 3 cannot look
    /// up: the build then slots every entry one at a time instead.
    mutating func rebuild(files: [TrackedFile], keys: KeyTable) {
        self = PlanBuilder()
        coverKeys(keys)
        for file in files { declareMetrics(of: file, keys: keys) }
        for file in files { createSlots(for: file, keys: keys) }
        if hasNaNBucket {
            self = PlanBuilder()
            coverKeys(keys)
            for file in files { declareMetrics(of: file, keys: keys) }
            for file in files { add(file: file, from: 0, keys: keys, FullBuild.self) }
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
            run = declareMetric(key: id, file: file.parsedName, keys: keys, FullBuild.self)
        }
    }

    /// Pass 2 for one file: creates the slots its entries need that do not exist yet.
    private mutating func createSlots(for file: TrackedFile, keys: KeyTable) {
        let name = file.parsedName
        var walk = memos.walk(name)
        for id in file.keyIDs {
            guard case .metric(let metric) = metricOfKey[Int(id)] else { continue }
            walk.enter(metric, dropsPid: metrics[Int(metric)].dropsPid)
            let memoKey = walk.memoKey(for: id)
            if memos[memoKey] != .unknown { continue }  // most entries: their key's slot exists
            _ = slot(at: memoKey, key: id, metric: metric, pid: name.pid, keys: keys, FullBuild.self)
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
    let dropsPidOfMetric: [Bool]
    let memos: SlotMemos
    let slotCount: Int
    let keys: KeyTable

    init(builder: PlanBuilder, keys: KeyTable) {
        metricOfKey = builder.metricOfKey
        dropsPidOfMetric = builder.metrics.map(\.dropsPid)
        memos = builder.memos
        slotCount = builder.slotOps.count
        self.keys = keys
    }

    /// One file's state, counting its entries into `contributors`. Every slot exists (pass 2).
    func state(of file: TrackedFile, contributors: inout [Int32]) -> PlanBuilder.FileState {
        var walk = memos.lookupWalk(file.parsedName)
        var state = PlanBuilder.FileState(epoch: file.epoch)
        state.slots.reserveCapacity(file.keyIDs.count)
        for id in file.keyIDs {
            guard case .metric(let metric) = metricOfKey[Int(id)] else {
                state.slots.append(MergePlan.noSlot)
                continue
            }
            if walk.enter(metric, dropsPid: dropsPidOfMetric[Int(metric)]) { state.metrics.insert(metric) }
            if let slot = state.record(memos[walk.memoKey(for: id)], key: id, file: file.name, keys: keys) { contributors[Int(slot)] += 1 }
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
