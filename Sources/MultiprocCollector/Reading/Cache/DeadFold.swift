// MARK: - Files of dead workers, folded once

/// The contributions of frozen files (non-live files of pids marked dead: nobody writes them
/// any more), folded once, so a scrape only accumulates the live files onto them.
///
/// Python adds values in file order, and float addition is not associative, so the fold must
/// give bit-identical results whatever the interleaving of dead and live files. Each slot the
/// frozen files feed is folded by one ``Method``:
/// - `fixed`: fed only by frozen files: computed once, in merge order;
/// - `exactSum`: a `sum` slot whose frozen contributions are all integers (counters, bucket
///   counts): integer sums below 2^53 are exact in any order, so they are pre-summed, and
///   live values are checked to keep it so;
/// - `sequential`: anything else fed by both: the frozen contributions are kept in merge order
///   and interleaved with the live ones by file position.
/// A live value that breaks the `exactSum` condition makes ``accumulate(plan:frozenPositions:live:)``
/// return ``Outcome/inexact(_:)``: the caller accumulates every file plainly, and those slots become
/// `sequential` from the next fold on (``FoldCache``).
///
/// A fold holds for the plan it is for and the frozen files it was built from, in merge
/// order (``isValid(for:frozen:)``); ``FoldCache`` keeps it so, ``DeadPids`` says which files
/// are frozen.
struct DeadFold {
    enum Method: UInt8 { case none, fixed, exactSum, sequential }

    /// A file that is not frozen, with its merge position and the slots of its entries.
    struct LiveFile {
        var position: Int
        var file: TrackedFile
        var slots: [Int32]
    }

    enum Outcome {
        /// The merged values of every file.
        case accumulated(SlotValues)
        /// Live values broke the exact sums of these slots.
        case inexact(Set<Int32>)
    }

    /// The plan whose slots the fold fills: built for it, or carried over to it.
    private(set) var plan: MergePlan
    /// The frozen files (ids), in merge order at fold time (their relative order never changes).
    let frozen: [Int]

    /// Whether this fold is for `plan` and for exactly the files frozen now (`frozen`: ids in
    /// merge order); otherwise they are folded anew.
    func isValid(for plan: MergePlan, frozen: [Int]) -> Bool {
        self.plan === plan && self.frozen == frozen
    }

    // Per slot of `plan` (index = slot number):
    private var methods: [Method]
    /// Starting point of every slot: fixed values, exact sums, or nothing.
    private var base: SlotValues
    private var baseLatest: [Double]
    /// Sum of magnitudes behind each `exactSum` slot.
    private var magnitude: [Double]
    /// Frozen contributions of the `sequential` slots (all of which existed at fold time).
    private let sequences: FrozenSequences

    /// Integers up to this magnitude add exactly in any order.
    static let exactLimit = 9_007_199_254_740_992.0  // 2^53

    /// Builds the fold. `files` are all merged files in merge order with their slots;
    /// `isFrozen` marks the frozen ones; `forcedSequential` slots are never pre-summed.
    init(plan: MergePlan, files: [TrackedFile], slots: [[Int32]], isFrozen: [Bool], forcedSequential: Set<Int32>) {
        let count = plan.slotCount
        self.plan = plan
        frozen = zip(files, isFrozen).filter(\.1).map(\.0.id)

        // Which slots live files feed, and what the frozen contributions of each slot are like.
        var fedByLive = [Bool](repeating: false, count: count)
        var frozenCount = [Int32](repeating: 0, count: count)
        var integral = [Bool](repeating: true, count: count)
        magnitude = [Double](repeating: 0, count: count)
        for (i, file) in files.enumerated() {
            if !isFrozen[i] {
                for s in slots[i] where s >= 0 { fedByLive[Int(s)] = true }
                continue
            }
            for (j, s) in slots[i].enumerated() where s >= 0 {
                frozenCount[Int(s)] += 1
                let v = file.values[j]
                magnitude[Int(s)] += v.magnitude
                if !(v.isFinite && v == v.rounded(.towardZero)) { integral[Int(s)] = false }
            }
        }
        methods = [Method](repeating: .none, count: count)
        for s in 0..<count where frozenCount[s] > 0 {
            if !fedByLive[s] {
                methods[s] = .fixed
            } else if plan.slotOps[s] == .sum, integral[s], magnitude[s] <= Self.exactLimit,
                      !forcedSequential.contains(Int32(s)) {
                methods[s] = .exactSum
            } else {
                methods[s] = .sequential
            }
        }

        // Base values: fixed slots folded in merge order; exact sums in any order; the
        // contributions of sequential slots set aside, by slot, in merge order.
        base = SlotValues(count: count)
        baseLatest = [Double](repeating: 0, count: count)
        var ordinal: Int32 = 0
        var sequences = [[FrozenSequences.Contribution]](repeating: [], count: count)
        let methods = self.methods
        SlotAccumulator.with(plan.slotOps, &base, latest: &baseLatest) { acc in
            for (i, file) in files.enumerated() where isFrozen[i] {
                let stamps = file.timestamps
                for (j, s) in slots[i].enumerated() where s >= 0 {
                    let t = stamps.isEmpty ? 0 : stamps[j]
                    switch methods[Int(s)] {
                    case .fixed, .exactSum: acc.apply(Int(s), file.values[j], t)
                    case .sequential: sequences[Int(s)].append(.init(ordinal: ordinal, value: file.values[j], timestamp: t))
                    case .none: break
                    }
                }
                ordinal += 1
            }
        }
        self.sequences = FrozenSequences(sequences)
    }

    /// This fold carried over to `newPlan`, an incremental update of its plan (same slot
    /// numbers, maybe more slots) whose live files fed `fedSlots`: new slots start empty. Nil
    /// when a slot the fold took as dead-only is now fed by a live file (fold again).
    func extended(to newPlan: MergePlan, fedSlots: [Int32]) -> DeadFold? {
        guard newPlan.slotCount >= methods.count else { return nil }
        for s in fedSlots where Int(s) < methods.count && methods[Int(s)] == .fixed { return nil }
        var copy = self
        copy.plan = newPlan
        let added = newPlan.slotCount - methods.count
        if added > 0 {
            copy.methods += [Method](repeating: .none, count: added)
            copy.base.values += [Double](repeating: 0, count: added)
            copy.base.present += [Bool](repeating: false, count: added)
            copy.baseLatest += [Double](repeating: 0, count: added)
            copy.magnitude += [Double](repeating: 0, count: added)
        }
        return copy
    }

    /// Accumulates the live files onto the folded frozen contributions. `frozenPositions[k]` is
    /// the current merge position of frozen file k.
    func accumulate(plan: MergePlan, frozenPositions: [Int], live: [LiveFile]) -> Outcome {
        var out = base
        var latest = baseLatest
        let scratch = FoldScratch(methods: methods, magnitude: magnitude, positions: frozenPositions, sequences: sequences)
        var broken = Set<Int32>()
        SlotAccumulator.with(plan.slotOps, &out, latest: &latest) { acc in
            for file in live { scratch.accumulate(file, into: acc, broken: &broken) }
            // Frozen contributions after the last live file.
            for s in 0..<scratch.methods.count where scratch.methods[s] == .sequential { scratch.flush(s, before: .max, into: acc) }
        }
        return broken.isEmpty ? .accumulated(out) : .inexact(broken)
    }
}

/// The frozen contributions of `sequential` slots, grouped by slot, in merge order: slot `s`
/// owns `contributions[start[s]..<start[s + 1]]`. Immutable, shared by a fold and its
/// extensions, and read in place by every accumulation (it can hold one contribution per
/// dead file and series, so it is never copied).
final class FrozenSequences {
    struct Contribution {
        /// Index of the frozen file it came from (in ``DeadFold/frozen`` order).
        var ordinal: Int32
        var value: Double
        var timestamp: Double
    }

    let start: UnsafeMutableBufferPointer<Int32>
    let contributions: UnsafeMutableBufferPointer<Contribution>

    init(_ bySlot: [[Contribution]]) {
        start = .allocate(capacity: bySlot.count + 1)
        contributions = .allocate(capacity: bySlot.reduce(0) { $0 + $1.count })
        var next = 0
        for (s, list) in bySlot.enumerated() {
            start[s] = Int32(next)
            for contribution in list {
                (contributions.baseAddress! + next).initialize(to: contribution)
                next += 1
            }
        }
        start[bySlot.count] = Int32(next)
    }

    deinit {
        start.deallocate()
        contributions.deallocate()
    }
}

/// One accumulation's working copy of a fold: plain buffers for the per-entry loop, freed
/// when the accumulation ends. Copying the per-slot arrays costs a pass over the slots, which
/// every scrape pays anyway to copy the base values.
private final class FoldScratch {
    let methods: UnsafeMutableBufferPointer<DeadFold.Method>
    /// Running magnitude of each `exactSum` slot.
    let running: UnsafeMutableBufferPointer<Double>
    /// Next unapplied contribution of each `sequential` slot.
    let cursor: UnsafeMutableBufferPointer<Int32>
    let positions: UnsafeMutableBufferPointer<Int>
    let sequences: FrozenSequences

    init(methods: [DeadFold.Method], magnitude: [Double], positions: [Int], sequences: FrozenSequences) {
        self.methods = Self.copy(methods)
        running = Self.copy(magnitude)
        cursor = Self.copy(Array(sequences.start))
        self.positions = Self.copy(positions)
        self.sequences = sequences
    }

    deinit {
        methods.deallocate()
        running.deallocate()
        cursor.deallocate()
        positions.deallocate()
    }

    private static func copy<T: BitwiseCopyable>(_ array: [T]) -> UnsafeMutableBufferPointer<T> {
        let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: array.count)
        _ = buffer.initialize(from: array)
        return buffer
    }

    /// Accumulates one live file's entries; slots whose exact sum it breaks go to `broken`.
    func accumulate(_ live: DeadFold.LiveFile, into acc: SlotAccumulator, broken: inout Set<Int32>) {
        let file = live.file
        let hasTimestamps = !file.timestamps.isEmpty
        live.slots.withUnsafeBufferPointer { slots in
            file.values.withUnsafeBufferPointer { values in
                file.timestamps.withUnsafeBufferPointer { stamps in
                    for j in 0..<slots.count where slots[j] >= 0 {
                        let s = Int(slots[j])
                        let v = values[j]
                        let t = hasTimestamps ? stamps[j] : 0
                        switch methods[s] {
                        case .none:
                            acc.apply(s, v, t)
                        case .exactSum:
                            running[s] += v.magnitude
                            if v.isFinite, v == v.rounded(.towardZero), running[s] <= DeadFold.exactLimit {
                                acc.apply(s, v, t)
                            } else {
                                broken.insert(Int32(s))
                            }
                        case .sequential:
                            // Frozen contributions from files before this one, then this value.
                            flush(s, before: live.position, into: acc)
                            acc.apply(s, v, t)
                        case .fixed:
                            // A live file feeds a slot the fold thought dead-only: the plan
                            // would have changed. Be safe: accumulate every file plainly.
                            broken.insert(Int32(s))
                        }
                    }
                }
            }
        }
    }

    /// Applies slot `s`'s frozen contributions from files placed before `position`.
    @inline(__always)
    func flush(_ s: Int, before position: Int, into acc: SlotAccumulator) {
        var c = Int(cursor[s])
        let end = Int(sequences.start[s + 1])
        while c < end {
            let contribution = sequences.contributions[c]
            guard positions[Int(contribution.ordinal)] < position else { break }
            acc.apply(s, contribution.value, contribution.timestamp)
            c += 1
        }
        cursor[s] = Int32(c)
    }
}
