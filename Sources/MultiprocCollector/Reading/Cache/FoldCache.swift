// MARK: - Keeping the dead-pid fold across scrapes

/// The ``DeadFold`` of the frozen files (see ``DeadPids`` for which files are frozen), kept
/// from one scrape to the next.
///
/// Invariant: ``fold``, when there is one, is for the current plan: a plan change either
/// carries it over or drops it (``planChanged(_:plan:)``). An incremental update keeps slot
/// numbers and only adds slots, so the fold carries over (``DeadFold/extended(to:fedSlots:)``)
/// unless a live file started feeding a slot the fold took as dead-only; a rebuilt plan
/// renumbers every slot. A fold is used only while it holds for exactly the files frozen now,
/// in merge order (``DeadFold/isValid(for:frozen:)``); otherwise the scrape folds them anew.
struct FoldCache {
    private var fold: DeadFold?
    /// Slots found not to be exact sums after all (see ``DeadFold``), until the plan is rebuilt.
    private var forcedSequential: Set<Int32> = []

    /// Notes a change of the plan to `plan` (call for every update of the plan).
    mutating func planChanged(_ outcome: PlanBuilder.Outcome, plan: MergePlan) {
        if outcome.rebuilt {
            fold = nil
            forcedSequential = []
        } else {
            fold = fold?.extended(to: plan, fedSlots: outcome.fedSlots)
        }
    }

    /// Accumulates the values of `files` (merge order; `slots[i]` are the slots of `files[i]`'s
    /// entries) into the slots of `plan`, onto the frozen files' folded contributions.
    mutating func accumulate(plan: MergePlan, files: [TrackedFile], slots: [[Int32]]) -> SlotValues {
        let isFrozen = files.map(\.isFrozen)
        guard isFrozen.contains(true) else {
            self = FoldCache()
            return plan.accumulate(files: files, slots: slots)
        }
        let frozen = zip(files, isFrozen).filter(\.1).map(\.0.id)
        if fold?.isValid(for: plan, frozen: frozen) != true {
            fold = DeadFold(plan: plan, files: files, slots: slots, isFrozen: isFrozen, forcedSequential: forcedSequential)
        }

        var positions: [Int] = []
        positions.reserveCapacity(frozen.count)
        var live: [DeadFold.LiveFile] = []
        for (i, file) in files.enumerated() {
            if isFrozen[i] { positions.append(i) } else { live.append(DeadFold.LiveFile(position: i, file: file, slots: slots[i])) }
        }
        switch fold!.accumulate(plan: plan, frozenPositions: positions, live: live) {
        case .accumulated(let values):
            return values
        case .inexact(let broken):
            // A live value broke an exact sum: accumulate every file plainly this time,
            // interleave next time.
            forcedSequential.formUnion(broken)
            fold = nil
            return plan.accumulate(files: files, slots: slots)
        }
    }
}
