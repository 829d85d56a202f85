// MARK: - The values a PlanBuilder keeps

extension PlanBuilder {

    struct MetricInfo {
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

    /// What is known of the metric of a key (indexed by key id in ``metricOfKey``).
    enum KeyMetric: Equatable {
        /// Not looked at yet.
        case unknown
        /// The key did not decode: its entries are left out.
        case undecodable
        case metric(Int32)
    }

    /// The slot that entries with a given key feed, once worked out (see ``SlotMemos``).
    enum SlotMemo: Equatable {
        case unknown
        /// A histogram bucket whose `le` is not a number: the entry is left out and reported.
        case invalidBound
        /// The key did not decode: the entry is left out (its problem is the key's).
        case leftOut
        case slot(Int32)
    }

    struct SampleSlotKey: Hashable {
        var metric: Int32
        var sampleName: ExactString
        var labels: [Label]
    }

    struct BucketSlotKey: Hashable {
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
    struct FileState {
        var epoch: Int
        /// The slot of each entry, in entry order; ``MergePlan/noSlot`` for entries left out.
        var slots: [Int32] = []
        var problems: [FileProblem] = []
        /// Metrics this file feeds (to know whether removing it touches a conflicted one).
        var metrics: Set<Int32> = []
    }
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
