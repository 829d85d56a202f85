// MARK: - What one look at the app's processes found

/// The app's processes as one ``WorkerCollector/collect()`` saw them: each live worker and
/// parent, and the totals across every worker that ever ran.
public struct WorkerReport: Sendable {
    /// Whether the app's processes are visible from here (see ``WorkerCollector``): nil while
    /// no pid with metric files was looked at yet, false when none of them is seen running as
    /// their writer (another pid namespace, `hidepid=`, or an app that is not running and
    /// was never seen running). Only a report with `true` describes the app.
    public var visible: Bool?
    /// The live workers, by pid: processes that write the directory's metric files.
    public var workers: [ObservedProcess] = []
    /// The live parents of workers, by pid: the processes that forked them (gunicorn's
    /// arbiter, uWSGI's master, celery's main process), whether they write metrics or not.
    public var parents: [ObservedProcess] = []
    /// CPU time of every worker that ever ran (see ``WorkerCollector`` for what is exact, and
    /// when): never decreases while the collector lives.
    public var workersCPU = CPUTime()
    /// CPU time of every parent that ever ran, its own (its workers' are in ``workersCPU``).
    public var parentsCPU = CPUTime()
    /// Workers seen to exit since the collector was made.
    public var workerExits = 0
    /// Parents seen to exit since the collector was made.
    public var parentExits = 0
    /// Pids with metric files and no live writer (new, changed, or due for another look)
    /// whose holder this look examined in `/proc`: after a first look at a directory, a few
    /// at most, however many dead pids it holds.
    public var pidsLookedAt = 0
    /// What this look could not read, by reason (counts for this look only).
    public var skipped: [WorkerSkipReason: Int] = [:]
    /// Seconds the look took.
    public var duration = 0.0

    /// An empty report.
    public init() {}
}

/// User and system CPU seconds.
public struct CPUTime: Sendable, Equatable {
    /// Seconds in user mode.
    public var user = 0.0
    /// Seconds in kernel mode.
    public var system = 0.0

    /// Zero, or the given times.
    public init(user: Double = 0, system: Double = 0) {
        self.user = user
        self.system = system
    }
}

/// One live process of the app as read now.
public struct ObservedProcess: Sendable, Equatable {
    /// Its pid, as the metric files name it.
    public var pid: Int
    /// Its own CPU time (not its children's).
    public var cpu: CPUTime
    /// Resident memory (`stat`'s `rss` pages), bytes.
    public var residentBytes: Double
    /// Proportional set size (`smaps_rollup`'s `Pss`), bytes: nil until read, or where
    /// unreadable. Read at its own pace (``WorkerCollector/refreshProportionalMemory(olderThan:)``).
    public var proportionalBytes: Double?
    /// Virtual memory size, bytes.
    public var virtualBytes: Double
    /// Open file descriptors; nil where they cannot be counted.
    public var openDescriptors: Double?
    /// The soft limit on open file descriptors; nil where unreadable.
    public var maxDescriptors: Double?
    /// Threads.
    public var threads: Double
    /// Start time, seconds since the epoch (boot time plus the start in ticks, as the
    /// Prometheus clients compute `process_start_time_seconds`).
    public var startTime: Double

    /// A process from its values.
    public init(pid: Int, cpu: CPUTime, residentBytes: Double, proportionalBytes: Double? = nil, virtualBytes: Double,
                openDescriptors: Double? = nil, maxDescriptors: Double? = nil, threads: Double, startTime: Double) {
        self.pid = pid
        self.cpu = cpu
        self.residentBytes = residentBytes
        self.proportionalBytes = proportionalBytes
        self.virtualBytes = virtualBytes
        self.openDescriptors = openDescriptors
        self.maxDescriptors = maxDescriptors
        self.threads = threads
        self.startTime = startTime
    }
}

/// Why something about the app's processes was not read: the `reason` label of
/// `multiproc_exporter_workers_skipped_total`.
public enum WorkerSkipReason: String, Sendable, CaseIterable, Comparable {
    /// A process exited while it was read (counted once per process that did).
    case exited
    /// A `/proc` file of a live worker or parent may not be read by this process (another
    /// user's process: `fd` before Linux 6.2, `smaps_rollup`): that value is left out, per read.
    case permissionDenied = "permission_denied"
    /// A pid with metric files is held by a process whose `/proc` entry is hidden
    /// (`hidepid=`, systemd's `ProtectProc=`), per look at that pid.
    case hidden
    /// A pid's holder started after its files and its memory map cannot be read: it may be a
    /// new worker that reused the pid, or not, per look at that pid.
    case unverifiable
    /// A pid's holder cannot be the writer of its files though it held the pid when they were
    /// made (a kernel thread, this exporter, a thread): the names carry pids of another pid
    /// namespace, per look at that pid.
    case otherNamespace = "other_namespace"
    /// No process of the app is visible from here: nothing was read (once per look).
    case notVisible = "not_visible"
    /// A live worker's or parent's `stat` could not be read though it is not gone (`EMFILE`,
    /// `ENOMEM`, `EACCES` after it changed credentials), per look: no series; the totals wait
    /// for it two looks, then go on with its last reading.
    case unreadable

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}
