// MARK: - The rule: is a pid's writer gone?

/// Decides, from `/proc` facts, whether the process that wrote a pid's metric files is gone.
/// A pure function of plain values: ``DeadWorkerFinder`` gathers the facts and adds the
/// checks that need more than one pid or more than one moment.
///
/// **Never remove a live worker's files.** A pid that exists may be another process (pids are
/// reused), and a pid that does not exist here may exist in another pid namespace. So for a
/// pid P with files (created, at the latest, at `P.bornBy`):
///
/// 1. No process holds P → **dead** (`exited`).
/// 2. The holder maps one of P's files writable (device:inode, `rw-s` in `/proc/P/maps`) → **alive**: it is
///    P's writer, or a new worker that reused the pid and opened P's files
///    (`reused_pid_in_use`). prometheus_client maps each file from its first value until
///    the process exits, so a writer that runs maps its files.
/// 3. The holder is a zombie (exited, not reaped, no thread left) → **dead** (`zombie`).
/// 4. The holder started after the files existed (`start > bornBy`, a bound that already
///    holds the clock margin): it did not create them, so their creator has exited and the
///    pid was reused. If its maps were readable (rule 2 found none of the files) → **dead**
///    (`pid_reused`). If they cannot be read, it is dead only when the holder runs as another
///    user than the files' owner: a new worker of the app would run as their owner and might
///    have mapped them; otherwise **skipped** (`unverifiable`).
/// 5. Otherwise the holder existed when the files were created, so it created them: **alive**
///    — unless it cannot be their writer (a kernel thread, a thread of another process, this
///    exporter or one of its ancestors mapping none of them): then the file names carry pids
///    of another namespace (**skipped**, `other_namespace`), and the check as a whole must
///    not trust "absent" any more (``Judgement/showsForeignPid``).
/// 6. A holder whose `/proc` entry is hidden → **skipped** (`not_inspectable`).
/// 7. For the check as a whole (``deathStands(appVisible:showsForeignPid:sawWriting:)``): a
///    dead verdict stands only where this exporter sees, or has seen, the app's writers.
///
/// Start time alone never decides "dead" for a process that could be the app's (same user,
/// maps unreadable): that case is exactly a new worker that reused the pid and opened its
/// files, whose gauges a wrong guess would delete while it runs.
public enum DeadWorkerRule {
    /// The facts about one pid's holder.
    public struct Holder: Sendable {
        /// What `/proc` says holds the pid.
        public var lookup: ProcessTable.Lookup
        /// Its memory map; nil when unreadable (or no holder).
        public var maps: WritableMappings?
        /// When it started, boot-clock seconds (nil when no holder).
        public var startSeconds: Double?
        /// Whether the pid is this process or one of its ancestors.
        public var isOurselves: Bool

        /// A holder from its facts.
        public init(lookup: ProcessTable.Lookup, maps: WritableMappings?, startSeconds: Double?, isOurselves: Bool) {
            self.lookup = lookup
            self.maps = maps
            self.startSeconds = startSeconds
            self.isOurselves = isOurselves
        }

        /// What holds `pid` now, as `processes` shows it: its record, and for a present holder
        /// its memory map and start.
        init(of pid: Int, in processes: ProcessTable, ourselves: Set<Int>) {
            self.init(lookup: processes.lookup(pid), maps: nil, startSeconds: nil, isOurselves: ourselves.contains(pid))
            if case .present(let record) = lookup {
                maps = processes.maps(of: pid)
                startSeconds = processes.startSeconds(record)
            }
        }
    }

    /// A verdict and what it says about this pid namespace.
    public struct Judgement: Sendable, Equatable {
        /// The conclusion for the pid.
        public var verdict: PidVerdict
        /// The holder is plausibly the files' writer in this namespace: the app is visible.
        public var showsApp = false
        /// The holder cannot be the writer though it held the pid when the files were made:
        /// the names carry another namespace's pids.
        public var showsForeignPid = false
    }

    /// Rule 7: whether a dead verdict of rules 1, 3 or 4 stands, for the check as a whole.
    /// "No process holds P" is evidence only in the pid namespace P's writer ran in:
    ///
    /// - the app is visible in this check (some pid's holder is plausibly its writer,
    ///   ``Judgement/showsApp``, and none shows another namespace's pids) → it stands;
    /// - it is not, but every file P has now was seen written by a process of this namespace
    ///   holding P (`sawWriting`: ``WriterSightings``), and no holder shows another namespace's
    ///   pids → it stands: the app ran here and P's writer is gone. A stopped app looks like that
    ///   (no pid of it visible any more);
    /// - otherwise → **skipped** (`not_visible`): P's writer was never seen here and may run in
    ///   another pid namespace, or the names carry another namespace's pids.
    ///
    /// Never a reason to call a live process dead: a holder that maps the files, or started
    /// before them, was judged alive by rules 2 and 5, which this does not touch.
    public static func deathStands(appVisible: Bool, showsForeignPid: Bool, sawWriting: Bool) -> Bool {
        appVisible || (!showsForeignPid && sawWriting)
    }

    /// Applies the rule to `files` and the process holding their pid.
    public static func judge(_ files: PidFiles, holder: Holder) -> Judgement {
        let record: ProcessRecord
        switch holder.lookup {
        case .absent: return Judgement(verdict: .dead(.exited))
        case .hidden: return Judgement(verdict: .skipped(.notInspectable))
        case .present(let present): record = present
        }
        let startedAfter = (holder.startSeconds ?? -.infinity) > files.bornBy
        let ownerRuns = record.effectiveUid.map { uid in files.files.contains { $0.owner == uid } }

        if let maps = holder.maps, files.mapped(in: maps) {
            return Judgement(verdict: startedAfter ? .skipped(.reusedPidInUse) : .alive, showsApp: true)
        }
        if record.isZombie && record.threads <= 1 {
            return Judgement(verdict: .dead(.zombie))
        }
        if startedAfter {
            if holder.maps != nil || ownerRuns == false { return Judgement(verdict: .dead(.pidReused)) }
            return Judgement(verdict: .skipped(.unverifiable))
        }
        let cannotWrite = record.isKernelThread || record.threadGroup != files.pid || (holder.isOurselves && holder.maps != nil)
        if cannotWrite {
            return Judgement(verdict: .skipped(.otherNamespace), showsForeignPid: true)
        }
        // A holder whose maps are readable and hold none of its files is no prometheus_client
        // writer of them: alive (it created them), but no sign that the app is visible.
        return Judgement(verdict: .alive, showsApp: ownerRuns == true && holder.maps == nil)
    }
}
