// MARK: - What a check concluded about one pid

/// The conclusion of one check about one pid that has metric files.
public enum PidVerdict: Sendable, Equatable {
    /// Its files are in use by their writer: nothing to do.
    case alive
    /// Its writer is gone: mark it dead (once confirmed, see ``DeadWorkerFinder``).
    case dead(DeathReason)
    /// Not marked dead, for this reason: it looked dead but something says otherwise, or the
    /// facts needed to decide could not be had.
    case skipped(SkipReason)

    /// Why a pid's writer is known to be gone: the `reason` label of
    /// `multiproc_exporter_auto_mark_dead_pids_marked_total`.
    public enum DeathReason: String, Sendable, CaseIterable {
        /// No process holds the pid.
        case exited
        /// The process exited and waits for its parent to reap it.
        case zombie
        /// A process that started after the files were created holds the pid and maps none of
        /// them: the writer exited and its pid went to someone else.
        case pidReused = "pid_reused"
    }

    /// Why a pid was not marked dead: the `reason` label of
    /// `multiproc_exporter_auto_mark_dead_pids_skipped_total`.
    public enum SkipReason: String, Sendable, CaseIterable {
        /// A process that started after the files holds the pid and maps them: a new worker
        /// reused the pid and took the files over.
        case reusedPidInUse = "reused_pid_in_use"
        /// Dead for this check; marked only if the next check agrees.
        case unconfirmed
        /// Another process maps the files (a custom `process_identifier`, a forked child
        /// that has not touched a metric yet, or a writer seen under another pid).
        case inUseElsewhere = "in_use_elsewhere"
        /// The pid belongs to a pid namespace other than this one: a process of a nested
        /// namespace has it there, or the pid's holder here cannot have written the files
        /// (this exporter, a kernel thread, a thread of another process).
        case otherNamespace = "other_namespace"
        /// No process of the app is visible from here: nothing is marked (see
        /// ``DeadWorkerCheck/pidsVisible``).
        case notVisible = "not_visible"
        /// The files changed between two checks: someone writes them.
        case beingWritten = "being_written"
        /// A process that started after the files holds the pid, runs as their owner, and its
        /// memory map cannot be read: it may be a new worker using them.
        case unverifiable
        /// A process holds the pid but its `/proc` entry is hidden (`hidepid=`,
        /// `ProtectProc=invisible`).
        case notInspectable = "not_inspectable"
        /// The number in the file names is not a Linux pid (a custom `process_identifier`).
        case notAPid = "not_a_pid"
        /// Judged dead, but mark-dead failed (the error is logged).
        case markFailed = "mark_failed"
    }
}
