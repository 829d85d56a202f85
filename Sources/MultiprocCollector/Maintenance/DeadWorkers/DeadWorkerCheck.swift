// MARK: - The result of one check

/// What one ``DeadWorkerFinder/check(markedDead:)`` found.
public struct DeadWorkerCheck: Sendable {
    /// One pid looked at, and the verdict.
    public struct Decision: Sendable, Equatable {
        /// The pid in the file names.
        public var pid: Int
        /// The verdict; `.dead` ones are confirmed and should be marked dead now.
        public var verdict: PidVerdict
        /// Whether the pid has `gauge_live*` files (what marking it dead removes).
        public var hasLiveGauges = false
    }

    /// Every pid looked at (not marked dead yet, or marked dead and showing live gauge files
    /// again), in directory order.
    public var decisions: [Decision] = []
    /// Names whose "pid" is no Linux pid (custom `process_identifier`): never marked.
    public var notPids: [String] = []
    /// Whether the app's processes are visible from here: nil when no pid needed a look;
    /// false when none of the pids with files is seen as their writer, or one's holder cannot
    /// have written them (another pid namespace). While false, only pids whose files were seen
    /// written from here before are marked dead (``remembered``).
    public var pidsVisible: Bool?
    /// While not visible: a pid has live gauge files or a file changed within the recent
    /// window, so the app probably runs where this exporter cannot see it (rather than having
    /// stopped).
    public var directoryInUse = false
    /// Pids whose files this finder saw written by a process of its pid namespace holding them
    /// (``WriterSightings``): marked dead when that process is gone, visible app or not.
    public var remembered = 0
    /// Why the sightings could not be written to the metric directory for the next process
    /// (``WriterSightingsRecord``), or nil. They are still kept in memory.
    public var sightingsProblem: String?
    /// Seconds the check took.
    public var duration = 0.0

    /// Pids with live gauge files left unmarked because no writer is visible and theirs was
    /// never seen written from here (`not_visible`): the live gauges a stopped app, or an app
    /// in another pid namespace, leaves served.
    public var unseenWithLiveGauges: Int {
        decisions.filter { $0.hasLiveGauges && $0.verdict == .skipped(.notVisible) }.count
    }

    /// The pids to mark dead now, with why.
    public var dead: [(pid: Int, reason: PidVerdict.DeathReason)] {
        decisions.compactMap { decision in
            if case .dead(let reason) = decision.verdict { return (decision.pid, reason) }
            return nil
        }
    }
}
