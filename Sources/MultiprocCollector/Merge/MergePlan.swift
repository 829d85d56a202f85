import Synchronization

// MARK: - The merge, compiled once per directory shape

/// How the values that land in one output series are combined.
enum MergeOp: UInt8 {
    /// counters, summaries, histogram `_sum` and buckets, `sum`/`livesum` gauges: `0.0 + v₁ + v₂ …`
    case sum
    /// `min`/`livemin`: the first value, replaced by any smaller one.
    case min
    /// `max`/`livemax`: the first value, replaced by any larger one.
    case max
    /// `mostrecent`/`livemostrecent`: the value with the largest timestamp above 0.
    case mostRecent
    /// `all`/`liveall`: one series per pid; the last value written wins.
    case last
}

/// Where one line of output takes its value from.
enum LineValue {
    /// A series slot.
    case slot(Int32)
    /// A histogram bucket: the running sum of `buckets[0...index]` (sorted by bound).
    case cumulativeBucket(group: Int32, index: Int32)
    /// A histogram `_count`: the sum of all the group's buckets.
    case bucketCount(group: Int32)
}

/// One output line of a family.
struct LinePlan {
    var sampleName: String
    /// Labels as rendered: unique names (later duplicates win), sorted by name.
    var labels: [Label]
    var value: LineValue
    /// Text format only: `_created`, `_gcount`, `_gsum` samples move to a gauge family of their own.
    var textSuffix: String?
}

/// One metric family: its header and the lines under it.
struct FamilyPlan {
    var name: String
    var type: MetricType
    var help: String
    var lines: [LinePlan]
}

/// The merge of one ordered list of files, compiled: for every entry of every file, the slot
/// its value feeds; for every slot, how values combine; and the output lines in order.
///
/// A plan depends only on which keys each file holds and the order of the files, never on
/// values, so a scrape of an unchanged directory reuses it and costs a pass over the values.
/// Its construction follows prometheus_client's `_read_metrics` and `_accumulate_metrics`
/// step by step (see ``PlanBuilder``). Immutable: snapshots keep using theirs while the
/// builder moves on.
final class MergePlan: @unchecked Sendable {
    let slotOps: [MergeOp]
    /// Histogram bucket groups: slots sorted as Python sorts the bounds.
    let bucketGroups: [[Int32]]
    let families: [FamilyPlan]

    /// Pre-rendered line prefixes per format, built on first use.
    let renderCache = Mutex<[FormatKey: RenderedPlan]>([:])

    init(slotOps: [MergeOp], bucketGroups: [[Int32]], families: [FamilyPlan]) {
        self.slotOps = slotOps
        self.bucketGroups = bucketGroups
        self.families = families
    }

    static let empty = MergePlan(slotOps: [], bucketGroups: [], families: [])

    var slotCount: Int { slotOps.count }
}

/// The format parameters that change how names render.
struct FormatKey: Hashable {
    var syntax: ExpositionFormat.Syntax
    var escaping: EscapingScheme
}

/// Accumulators of one scrape, one per slot.
struct SlotValues: Sendable {
    var values: [Double]
    var present: [Bool]

    init(count: Int) {
        values = [Double](repeating: 0, count: count)
        present = [Bool](repeating: false, count: count)
    }
}

/// The accumulator buffers of one scrape, and the one rule every path uses to fold a value
/// into a slot.
struct SlotAccumulator {
    let ops: UnsafeBufferPointer<MergeOp>
    let values: UnsafeMutableBufferPointer<Double>
    let present: UnsafeMutableBufferPointer<Bool>
    /// Timestamp of the value kept, for `mostRecent` slots.
    let latest: UnsafeMutableBufferPointer<Double>

    /// `_accumulate_metrics` for one sample `v` (timestamp `t`) landing in slot `s`.
    @inline(__always)
    func apply(_ s: Int, _ v: Double, _ t: Double) {
        switch ops[s] {
        case .sum:
            values[s] += v
            present[s] = true
        case .min:
            if !present[s] || v < values[s] { values[s] = v }
            present[s] = true
        case .max:
            if !present[s] || v > values[s] { values[s] = v }
            present[s] = true
        case .mostRecent:
            if latest[s] < t {
                values[s] = v
                latest[s] = t
                present[s] = true
            }
        case .last:
            values[s] = v
            present[s] = true
        }
    }

    /// Runs `body` with buffers over `out` (and a scratch `latest` array).
    static func with<R>(_ ops: [MergeOp], _ out: inout SlotValues, latest: inout [Double], _ body: (SlotAccumulator) -> R) -> R {
        ops.withUnsafeBufferPointer { ops in
            out.values.withUnsafeMutableBufferPointer { values in
                out.present.withUnsafeMutableBufferPointer { present in
                    latest.withUnsafeMutableBufferPointer { latest in
                        body(SlotAccumulator(ops: ops, values: values, present: present, latest: latest))
                    }
                }
            }
        }
    }
}

extension MergePlan {

    /// Folds the values of every file, in merge order, into the slots.
    ///
    /// `entrySlots[i]`, `values[i]` and `timestamps[i]` hold the entries of the i-th file;
    /// `timestamps[i]` is empty for files whose timestamps never matter (Python passes none
    /// for non-gauge files).
    func accumulate(entrySlots: [[Int32]], values: [[Double]], timestamps: [[Double]]) -> SlotValues {
        var out = SlotValues(count: slotCount)
        var latest = [Double](repeating: 0, count: slotCount)
        SlotAccumulator.with(slotOps, &out, latest: &latest) { acc in
            for fileIndex in entrySlots.indices {
                acc.applyFile(slots: entrySlots[fileIndex], values: values[fileIndex], timestamps: timestamps[fileIndex])
            }
        }
        return out
    }
}

extension SlotAccumulator {
    /// Folds one file's entries in entry order.
    @inline(__always)
    func applyFile(slots: [Int32], values fileValues: [Double], timestamps: [Double]) {
        slots.withUnsafeBufferPointer { slots in
            fileValues.withUnsafeBufferPointer { fileValues in
                if timestamps.isEmpty {
                    for j in 0..<slots.count where slots[j] >= 0 { apply(Int(slots[j]), fileValues[j], 0) }
                } else {
                    timestamps.withUnsafeBufferPointer { ts in
                        for j in 0..<slots.count where slots[j] >= 0 { apply(Int(slots[j]), fileValues[j], ts[j]) }
                    }
                }
            }
        }
    }
}
