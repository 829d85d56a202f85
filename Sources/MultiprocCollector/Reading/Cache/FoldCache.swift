// MARK: - Keeping the dead-pid fold across scrapes

/// The ``DeadFold`` of the frozen files and what it needs to survive plan updates.
///
/// A fold is tied to the slot numbering of the plan it was built for. Incremental plan
/// updates keep slot numbers and only add slots, so the fold carries over (``DeadFold/extended(to:fedSlots:)``)
/// as long as no live file started feeding a slot the fold took as dead-only; a rebuilt plan
/// renumbers every slot and needs a new fold. Invariant: ``fedSinceFold`` and
/// ``rebuiltSinceFold`` describe every plan change since ``fold`` was last brought up to date.
struct FoldCache {
    private var fold: DeadFold?
    /// Slots fed by live files since the fold was last brought up to date.
    private var fedSinceFold: [Int32] = []
    /// The plan was rebuilt (renumbered) since the fold was last brought up to date.
    private var rebuiltSinceFold = false
    /// Slots found not to be exact sums after all (see ``DeadFold``), until the plan is rebuilt.
    private var forcedSequential: Set<Int32> = []

    /// Notes a plan change (call for every update of the plan).
    mutating func planChanged(_ outcome: PlanBuilder.Outcome) {
        fedSinceFold += outcome.fedSlots
        if outcome.rebuilt {
            forcedSequential = []
            rebuiltSinceFold = true
        }
    }

    /// Folds the values of `files` (merge order; `slots[i]` are the slots of `files[i]`'s
    /// entries) into the slots of `plan`, reusing the frozen files' pre-merged contributions.
    mutating func accumulate(plan: MergePlan, files: [TrackedFile], slots: [[Int32]]) -> SlotValues {
        let isFrozen = files.map(\.isFrozen)
        guard isFrozen.contains(true) else {
            self = FoldCache()
            return plan.accumulate(files: files, slots: slots)
        }
        let frozenIDs = zip(files, isFrozen).filter(\.1).map(\.0.id)
        if let current = fold, current.frozen == frozenIDs, !rebuiltSinceFold,
           let carried = current.plan === plan ? current : current.extended(to: plan, fedSlots: fedSinceFold) {
            fold = carried
        } else {
            fold = DeadFold(plan: plan, files: files, slots: slots, isFrozen: isFrozen, forcedSequential: forcedSequential)
        }
        fedSinceFold = []
        rebuiltSinceFold = false

        var positions: [Int] = []
        positions.reserveCapacity(frozenIDs.count)
        var live: [DeadFold.LiveFile] = []
        for (i, file) in files.enumerated() {
            if isFrozen[i] { positions.append(i) } else { live.append(DeadFold.LiveFile(position: i, file: file, slots: slots[i])) }
        }
        switch fold!.accumulate(plan: plan, frozenPositions: positions, live: live) {
        case .folded(let values):
            return values
        case .inexact(let broken):
            // A live value broke an exact sum: fold everything this time, interleave next time.
            forcedSequential.formUnion(broken)
            fold = nil
            return plan.accumulate(files: files, slots: slots)
        }
    }
}
