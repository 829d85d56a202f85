// MARK: - The result of one check

/// What one ``DeadWorkerFinder/check(markedDead:)`` found.
public struct DeadWorkerCheck: Sendable {
    /// One pid looked at, and the verdict.
    public struct Decision: Sendable, Equatable {
        /// The pid in the file names.
        public var pid: Int
        /// The verdict; `.dead` ones are confirmed and should be marked dead now.
        public var verdict: PidVerdict
    }

    /// Every pid looked at (not marked dead yet, or marked dead and showing live gauge files
    /// again), in directory order.
    public var decisions: [Decision] = []
    /// Names whose "pid" is no Linux pid (custom `process_identifier`): never marked.
    public var notPids: [String] = []
    /// Whether the app's processes are visible from here: nil when no pid needed a look;
    /// false when none of the pids with files is seen as their writer, or one's holder cannot
    /// have written them (another pid namespace). Nothing is marked dead while false.
    public var pidsVisible: Bool?
    /// While not visible: a pid has live gauge files or a file changed within the recent
    /// window, so the app probably runs where this exporter cannot see it (rather than having
    /// stopped).
    public var directoryInUse = false
    /// Seconds the check took.
    public var duration = 0.0

    /// The pids to mark dead now, with why.
    public var dead: [(pid: Int, reason: PidVerdict.DeathReason)] {
        decisions.compactMap { decision in
            if case .dead(let reason) = decision.verdict { return (decision.pid, reason) }
            return nil
        }
    }
}
