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

extension MergePlan {

    /// Folds the values of every file, in merge order, into the slots.
    ///
    /// `entrySlots[i]`, `values[i]` and `timestamps[i]` hold the entries of the i-th file;
    /// `timestamps[i]` is empty for files whose timestamps never matter (Python passes none
    /// for non-gauge files).
    func accumulate(entrySlots: [[Int32]], values: [[Double]], timestamps: [[Double]]) -> SlotValues {
        var out = SlotValues(count: slotCount)
        var latest = [Double](repeating: 0, count: slotCount)
        slotOps.withUnsafeBufferPointer { ops in
        out.values.withUnsafeMutableBufferPointer { acc in
        out.present.withUnsafeMutableBufferPointer { present in
            for fileIndex in entrySlots.indices {
                let slots = entrySlots[fileIndex]
                let fileValues = values[fileIndex]
                let fileTimestamps = timestamps[fileIndex]
                for j in 0..<slots.count {
                    let s = Int(slots[j])
                    if s < 0 { continue }
                    let v = fileValues[j]
                    switch ops[s] {
                    case .sum:
                        acc[s] += v
                        present[s] = true
                    case .min:
                        if !present[s] || v < acc[s] { acc[s] = v }
                        present[s] = true
                    case .max:
                        if !present[s] || v > acc[s] { acc[s] = v }
                        present[s] = true
                    case .mostRecent:
                        let t = fileTimestamps.isEmpty ? 0 : fileTimestamps[j]
                        if latest[s] < t {
                            acc[s] = v
                            latest[s] = t
                            present[s] = true
                        }
                    case .last:
                        acc[s] = v
                        present[s] = true
                    }
                }
            }
        }
        }
        }
        return out
    }
}
