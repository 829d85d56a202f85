// MARK: - Files of dead workers, folded once

/// The contributions of frozen files (non-live files of pids marked dead: nobody writes them
/// any more), pre-merged so a scrape only folds in the live files.
///
/// Python adds values in file order, and float addition is not associative, so the fold must
/// give bit-identical results whatever the interleaving of dead and live files:
/// - a slot fed only by frozen files is computed once, in merge order (`fixed`);
/// - a `sum` slot whose frozen contributions are all integers (counters, bucket counts) is
///   pre-summed: integer sums below 2^53 are exact in any order (`exactSum`), and live values
///   are checked to keep it so;
/// - any other slot fed by both keeps its frozen contributions in order and interleaves them
///   with the live ones by file position (`sequential`).
/// A live value that breaks the `exactSum` condition makes the scrape fall back to the plain
/// fold of every file, and that slot becomes `sequential` from the next fold on.
struct DeadFold {
    enum SlotKind: UInt8 { case none, fixed, exactSum, sequential }

    private(set) var plan: MergePlan
    /// The frozen files (ids), in merge order at fold time (their relative order never changes).
    let frozen: [Int]
    let forcedSequential: Set<Int32>

    private(set) var kinds: [SlotKind]
    /// Starting point of every slot: fixed values, exact sums, or nothing.
    private(set) var base: SlotValues
    private(set) var baseLatest: [Double]
    /// Sum of magnitudes behind each `exactSum` slot.
    private(set) var magnitude: [Double]
    /// Frozen contributions of `sequential` slots, grouped by slot, in merge order.
    private(set) var sequenceStart: [Int32]
    private(set) var sequenceOrdinal: [Int32] = []
    private(set) var sequenceValue: [Double] = []
    private(set) var sequenceTimestamp: [Double] = []

    /// Integers up to this magnitude add exactly in any order.
    static let exactLimit = 9_007_199_254_740_992.0  // 2^53

    /// Builds the fold. `files` are all merged files in merge order with their slots;
    /// `isFrozen` marks the frozen ones.
    init(plan: MergePlan, files: [TrackedFile], slots: [[Int32]], isFrozen: [Bool], forcedSequential: Set<Int32>) {
        let count = plan.slotCount
        self.plan = plan
        self.forcedSequential = forcedSequential
        frozen = zip(files, isFrozen).filter(\.1).map(\.0.id)

        // Which slots live files feed, and how many frozen contributions each slot has.
        var fedByLive = [Bool](repeating: false, count: count)
        var frozenCount = [Int32](repeating: 0, count: count)
        var integral = [Bool](repeating: true, count: count)
        magnitude = [Double](repeating: 0, count: count)
        for (i, file) in files.enumerated() {
            if isFrozen[i] {
                for (j, s) in slots[i].enumerated() where s >= 0 {
                    frozenCount[Int(s)] += 1
                    let v = file.values[j]
                    magnitude[Int(s)] += v.magnitude
                    if !(v.isFinite && v == v.rounded(.towardZero)) { integral[Int(s)] = false }
                }
            } else {
                for s in slots[i] where s >= 0 { fedByLive[Int(s)] = true }
            }
        }
        kinds = [SlotKind](repeating: .none, count: count)
        for s in 0..<count where frozenCount[s] > 0 {
            if !fedByLive[s] {
                kinds[s] = .fixed
            } else if plan.slotOps[s] == .sum, integral[s], magnitude[s] <= Self.exactLimit,
                      !forcedSequential.contains(Int32(s)) {
                kinds[s] = .exactSum
            } else {
                kinds[s] = .sequential
            }
        }

        // Base values: fixed slots folded in merge order; exact sums in any order.
        base = SlotValues(count: count)
        baseLatest = [Double](repeating: 0, count: count)
        var ordinal: Int32 = 0
        var sequences = [[(Int32, Double, Double)]](repeating: [], count: count)
        let kinds = self.kinds
        SlotAccumulator.with(plan.slotOps, &base, latest: &baseLatest) { acc in
            for (i, file) in files.enumerated() where isFrozen[i] {
                let stamps = file.timestamps
                for (j, s) in slots[i].enumerated() where s >= 0 {
                    let t = stamps.isEmpty ? 0 : stamps[j]
                    switch kinds[Int(s)] {
                    case .fixed, .exactSum: acc.apply(Int(s), file.values[j], t)
                    case .sequential: sequences[Int(s)].append((ordinal, file.values[j], t))
                    case .none: break
                    }
                }
                ordinal += 1
            }
        }
        sequenceStart = [Int32](repeating: 0, count: count + 1)
        for s in 0..<count {
            sequenceStart[s] = Int32(sequenceOrdinal.count)
            for (o, v, t) in sequences[s] {
                sequenceOrdinal.append(o)
                sequenceValue.append(v)
                sequenceTimestamp.append(t)
            }
        }
        sequenceStart[count] = Int32(sequenceOrdinal.count)
    }

    /// Whether this fold still describes `plan` and the frozen files among `files`.
    func matches(plan: MergePlan, frozenFiles: [Int]) -> Bool {
        self.plan === plan && frozen == frozenFiles
    }

    /// This fold carried over to `newPlan`, an incremental update of its plan (same slot
    /// numbers, maybe more slots) whose live files fed `fedSlots`: new slots start empty. Nil
    /// when a slot the fold took as dead-only is now fed by a live file (fold again).
    func extended(to newPlan: MergePlan, fedSlots: [Int32]) -> DeadFold? {
        guard newPlan.slotCount >= kinds.count else { return nil }
        for s in fedSlots where Int(s) < kinds.count && kinds[Int(s)] == .fixed { return nil }
        var copy = self
        copy.plan = newPlan
        let added = newPlan.slotCount - kinds.count
        if added > 0 {
            copy.kinds += [SlotKind](repeating: .none, count: added)
            copy.base.values += [Double](repeating: 0, count: added)
            copy.base.present += [Bool](repeating: false, count: added)
            copy.baseLatest += [Double](repeating: 0, count: added)
            copy.magnitude += [Double](repeating: 0, count: added)
            copy.sequenceStart += [Int32](repeating: copy.sequenceStart.last ?? 0, count: added)
        }
        return copy
    }

    /// Folds the live files into the pre-merged frozen contributions. `positions[k]` is the
    /// current merge position of frozen file k; `live` are (merge position, file, slots).
    /// Returns nil when a live value breaks an exact sum (the caller folds everything instead)
    /// together with the slots to make sequential.
    func accumulate(plan: MergePlan, positions: [Int], live: [(position: Int, file: TrackedFile, slots: [Int32])]) -> (SlotValues?, Set<Int32>) {
        var out = base
        var latest = baseLatest
        var running = magnitude
        var cursor = sequenceStart
        var broken = Set<Int32>()
        SlotAccumulator.with(plan.slotOps, &out, latest: &latest) { acc in
            withBuffers(positions: positions, running: &running, cursor: &cursor) { b in
                for (position, file, slots) in live {
                    file.values.withUnsafeBufferPointer { values in
                        file.timestamps.withUnsafeBufferPointer { stamps in
                            slots.withUnsafeBufferPointer { slots in
                                for j in 0..<slots.count {
                                    let s = Int(slots[j])
                                    if s < 0 { continue }
                                    let v = values[j]
                                    let t = stamps.isEmpty ? 0 : stamps[j]
                                    switch b.kinds[s] {
                                    case .none:
                                        acc.apply(s, v, t)
                                    case .exactSum:
                                        b.running[s] += v.magnitude
                                        if v.isFinite, v == v.rounded(.towardZero), b.running[s] <= Self.exactLimit {
                                            acc.apply(s, v, t)
                                        } else {
                                            broken.insert(Int32(s))
                                        }
                                    case .sequential:
                                        // Frozen contributions that come before this file, then this value.
                                        b.flush(s, before: position, into: acc)
                                        acc.apply(s, v, t)
                                    case .fixed:
                                        // A live file feeds a slot the fold thought dead-only: the
                                        // plan would have changed. Be safe: fold everything.
                                        broken.insert(Int32(s))
                                    }
                                }
                            }
                        }
                    }
                }
                // Frozen contributions after the last live file.
                for s in 0..<b.kinds.count where b.kinds[s] == .sequential { b.flush(s, before: .max, into: acc) }
            }
        }
        return broken.isEmpty ? (out, []) : (nil, broken)
    }

    /// The fold's arrays as buffers, for the per-entry loop.
    private struct Buffers {
        let kinds: UnsafeBufferPointer<SlotKind>
        let positions: UnsafeBufferPointer<Int>
        let start: UnsafeBufferPointer<Int32>
        let ordinal: UnsafeBufferPointer<Int32>
        let value: UnsafeBufferPointer<Double>
        let timestamp: UnsafeBufferPointer<Double>
        let running: UnsafeMutableBufferPointer<Double>
        let cursor: UnsafeMutableBufferPointer<Int32>

        /// Applies slot `s`'s frozen contributions from files placed before `position`.
        @inline(__always)
        func flush(_ s: Int, before position: Int, into acc: SlotAccumulator) {
            var c = Int(cursor[s])
            let end = Int(start[s + 1])
            while c < end, positions[Int(ordinal[c])] < position {
                acc.apply(s, value[c], timestamp[c])
                c += 1
            }
            cursor[s] = Int32(c)
        }
    }

    private func withBuffers<R>(positions: [Int], running: inout [Double], cursor: inout [Int32], _ body: (Buffers) -> R) -> R {
        kinds.withUnsafeBufferPointer { kinds in
            positions.withUnsafeBufferPointer { positions in
                sequenceStart.withUnsafeBufferPointer { start in
                    sequenceOrdinal.withUnsafeBufferPointer { ordinal in
                        sequenceValue.withUnsafeBufferPointer { value in
                            sequenceTimestamp.withUnsafeBufferPointer { timestamp in
                                running.withUnsafeMutableBufferPointer { running in
                                    cursor.withUnsafeMutableBufferPointer { cursor in
                                        body(Buffers(kinds: kinds, positions: positions, start: start, ordinal: ordinal, value: value,
                                                     timestamp: timestamp, running: running, cursor: cursor))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
