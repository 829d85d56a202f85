// MARK: - The two ways of slotting entries

/// What differs between the two passes that slot entries into a ``PlanBuilder``: the builder's
/// code is the same for both, and where the outcome depends on the order of the files
/// (``OrderDependent``), it asks the pass.
///
/// A ``FullBuild`` sees every file in merge order, so it applies Python's rule (the first type
/// and help, the last gauge mode, a NaN bucket where its entry lies) and always finishes: its
/// `Failure` is `Never`. An ``IncrementalUpdate`` sees only what changed, so it cannot tell
/// which file comes first or last: it gives up (`Failure` is ``OrderDependent``), and the
/// plan is rebuilt.
protocol BuildPass {
    associatedtype Failure: Error
    /// Called where the outcome depends on file order, before the builder applies Python's
    /// rule: a full build goes on, an incremental update throws `why`.
    static func orderDecides(_ why: OrderDependent) throws(Failure)
    /// Whether every entry's metric is checked as it is slotted. An incremental update adds
    /// entries of metrics that files it does not look at again declared; a full build declares
    /// every metric of every file first, in merge order, and must not change them while it
    /// slots (a gauge mode set per file would be the last file's only at the end).
    static var declaresWhileSlotting: Bool { get }
}

/// Where an incremental update cannot decide, because the answer depends on file order.
enum OrderDependent: Error {
    /// A key's type or help differs from its metric's: the first file holding the metric decides.
    case typeOrHelp
    /// A gauge file's mode differs from its metric's: the last gauge file decides.
    case gaugeMode
    /// A new entry of a metric whose files disagree already: it may lie in an earlier or a
    /// later file than the one that decided.
    case conflictedMetric
    /// A histogram bucket bound that is NaN: every such entry is a bucket of its own, placed
    /// among the buckets by file order.
    case nanBucket
}

/// Compiles the merge from scratch (``PlanBuilder/rebuild(files:keys:)``): always correct.
enum FullBuild: BuildPass {
    static func orderDecides(_ why: OrderDependent) {}
    static var declaresWhileSlotting: Bool { false }
}

/// Applies a change to the plan in place (``PlanBuilder/update(files:keys:)``), as long as
/// file order cannot matter.
enum IncrementalUpdate: BuildPass {
    static func orderDecides(_ why: OrderDependent) throws(OrderDependent) { throw why }
    static var declaresWhileSlotting: Bool { true }
}
