import MultiprocSupport

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
    /// A histogram bucket: the running sum of `buckets[0...index]` (sorted by bound) of the
    /// family's bucket group `group`.
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

/// One metric family: its header, the lines under it and its histogram bucket groups.
///
/// A reference type so that a plan updated for a change elsewhere shares this family, and
/// the headers and line prefixes rendered for it, with the plan before.
final class FamilyPlan: @unchecked Sendable {
    let name: String
    let type: MetricType
    let help: String
    let lines: [LinePlan]
    /// Histogram bucket groups of this family: slots sorted as Python sorts the bounds.
    let bucketGroups: [[Int32]]

    /// Header and line prefixes per format, rendered on first use.
    private let renderCache = Locked<[FormatKey: RenderedFamily]>([:])

    init(name: String, type: MetricType, help: String, lines: [LinePlan], bucketGroups: [[Int32]]) {
        self.name = name
        self.type = type
        self.help = help
        self.lines = lines
        self.bucketGroups = bucketGroups
    }

    /// The constant parts of this family's output in `format`, rendered once.
    func rendered(for format: ExpositionFormat) -> RenderedFamily {
        let key = FormatKey(syntax: format.syntax, escaping: format.escaping)
        if let cached = renderCache.withLock({ $0[key] }) { return cached }
        var bytes: [UInt8] = []
        ExpositionWriter.appendHeader(name: name, type: type, help: help, sampleNames: lines.lazy.map(\.sampleName), format: format, into: &bytes)
        let header = 0..<bytes.count
        var suffixHeaders: [String: Range<Int>] = [:]
        var prefixes: [Range<Int>] = []
        prefixes.reserveCapacity(lines.count)
        for line in lines {
            if let suffix = line.textSuffix, suffixHeaders[suffix] == nil, format.syntax == .prometheusText {
                let start = bytes.count
                ExpositionWriter.appendSuffixHeader(name: name + suffix, help: help, format: format, into: &bytes)
                suffixHeaders[suffix] = start..<bytes.count
            }
            let start = bytes.count
            ExpositionWriter.appendLinePrefix(sampleName: line.sampleName, labels: line.labels, format: format, into: &bytes)
            prefixes.append(start..<bytes.count)
        }
        let rendered = RenderedFamily(bytes: bytes, header: header, suffixHeaders: suffixHeaders, prefixes: prefixes)
        renderCache.withLock { $0[key] = rendered }
        return rendered
    }
}

/// The constant parts of a family's output in one format: header and line prefixes.
struct RenderedFamily {
    var bytes: [UInt8]
    var header: Range<Int>
    var suffixHeaders: [String: Range<Int>]
    var prefixes: [Range<Int>]
}

/// The merge of one ordered list of files, compiled: for every slot, how values combine; and
/// the families and their output lines in order. (Which entry feeds which slot is kept by
/// ``PlanBuilder``.)
///
/// A plan depends only on which keys each file holds and the order of the files, never on
/// values, so a scrape of an unchanged directory reuses it and costs a pass over the values.
/// Its construction follows prometheus_client's `_read_metrics` and `_accumulate_metrics`
/// step by step (see ``PlanBuilder``). Immutable: snapshots keep using theirs while the
/// builder moves on.
final class MergePlan: @unchecked Sendable {
    let slotOps: [MergeOp]
    /// Families sorted by name.
    let families: [FamilyPlan]

    init(slotOps: [MergeOp], families: [FamilyPlan]) {
        self.slotOps = slotOps
        self.families = families
    }

    static let empty = MergePlan(slotOps: [], families: [])

    /// In a file's per-entry slot array: the entry feeds no slot (it is left out).
    static let noSlot: Int32 = -1

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

/// The accumulator buffers of one scrape, and the one rule every path uses to accumulate a
/// value into a slot.
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

    /// Accumulates the values of every file, in merge order, into the slots; `slots[i]` are the
    /// slots of `files[i]`'s entries.
    func accumulate(files: [TrackedFile], slots: [[Int32]]) -> SlotValues {
        accumulate(entrySlots: slots, values: files.map(\.values), timestamps: files.map(\.timestamps))
    }

    /// Accumulates the values of every file, in merge order, into the slots (Python's
    /// `_accumulate_metrics`; *fold* is kept for dead pids' values, combined once).
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
    /// Accumulates one file's entries in entry order.
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
