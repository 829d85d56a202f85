import Glibc
import MultiprocSupport

// MARK: - The app's workers, from /proc

/// Reads the CPU, memory and descriptors of the app's processes from `/proc`: what
/// prometheus_client's process collector gives a single process, and which multiprocess mode
/// loses, per worker and for every worker that ever ran.
///
/// ```swift
/// let workers = WorkerCollector(directory: "/run/prometheus-multiproc")
/// let report = workers.collect()                 // each scrape: /proc/<pid>/stat of the live ones
/// workers.refreshProportionalMemory(olderThan: 30)   // now and then, elsewhere: smaps_rollup
/// ```
///
/// **Who is a worker.** A process whose pid names metric files in the directory and that is
/// seen writing them: it maps one of them writable and shared, as prometheus_client does
/// from its first value until it exits (or, where its memory map cannot be read, it runs as
/// the files' owner and existed before them: ``DeadWorkerRule``). A pid is looked at when it
/// first appears, when its files change, and, while it has no live writer, again now and
/// then (a new worker can take over an old pid's files); a worker is then followed by its pid
/// and start time until it exits.
///
/// **Parents.** The process that forked a worker without `exec` (same `startstack` in
/// `/proc/<pid>/stat`, which every `exec` places anew; where this exporter may not read it,
/// the same command name) is its parent: gunicorn's arbiter, uWSGI's master, celery's main
/// process, whether it writes metrics or not. A writer that forks workers counts as a parent
/// rather than a worker (a pre-loaded app's arbiter).
///
/// **Visibility.** As for auto mark-dead: the app is visible once one writer was seen from
/// here, unless a pid's holder shows that the names carry another pid namespace's pids. Until
/// then (``WorkerReport/visible`` false) nothing is read and nothing should be served.
///
/// **Cost.** A look while no pid changes: a `stat` of the directory, then per live worker and
/// parent `/proc/<pid>/stat`, the size of `/proc/<pid>/fd` (Linux 6.2 and later; else its
/// listing) and `prlimit`; the parents' `stat` once more. Dead pids in the directory cost
/// nothing once looked at, but for a few cheap looks per call at those whose writer may come
/// back. `smaps_rollup` (proportional memory) walks the page tables of a process, so it is
/// read only by ``refreshProportionalMemory(olderThan:)``, at the caller's pace.
///
/// Thread-safe; looks are serialized, and a look never waits for the `smaps_rollup` reads of
/// a refresh of proportional memory (they run outside the collector's lock).
public final class WorkerCollector: Sendable {
    /// The metric directory whose pids are the app's workers.
    public let directory: String
    let processes: ProcessTable
    let clock: BootClock
    /// Seconds since the epoch at boot: start times are ticks after it.
    let bootTime: Double
    let state = Locked(State())

    /// A process followed until it exits: a worker, or the parent of workers.
    struct Member {
        let id: Int
        let pid: Int
        let isWriter: Bool
        /// The member that forked it without `exec`.
        var forkedBy: Int?
        var isParent: Bool
        /// Seen exited (a zombie): no longer live, counted until reaped.
        var exited = false
        /// Looks in a row whose `stat` of it failed other than as gone.
        var unreadableLooks = 0
        var stat: ProcessStat
        /// When it started: its identity with its pid (readings of another start are not its).
        var startTicks: UInt64 { stat.startTicks }
        /// Its `/proc` entry held open (for the first ``handlesHeld`` members), else nil: read by path.
        let handle: ProcessHandle?
        /// Proportional memory, bytes, from the last read that succeeded.
        var proportionalBytes: Double?
        /// When proportional memory was last read, successfully or not (monotonic clock).
        var proportionalReadAt: Double?
    }

    struct FileKey: Hashable {
        var name: String
        var inode: UInt64
    }

    struct State {
        var listing = PidListing()
        var listedOnce = false
        /// Boot-clock time each listed file was first seen.
        var firstSeen: [FileKey: Double] = [:]
        var members: [Int: Member] = [:]
        var memberByPid: [Int: Int] = [:]
        var nextMemberID = 1
        var unclaimed = UnclaimedPids()
        var account = CPUAccount()
        var sawWriter = false
        var lookedAtAny = false
        var workerExits = 0
        var parentExits = 0
        /// Skips found outside a look (proportional memory), reported by the next look.
        var pendingSkips: [WorkerSkipReason: Int] = [:]
        /// This process and its ancestors (read once, at the first look at a pid): never parents.
        var ourselves: Set<Int>?
        /// Members holding a ``ProcessHandle``.
        var handles = 0
        /// When a look last looked at unclaimed pids again (boot clock).
        var lastRecheck = -Double.infinity
    }

    /// Unclaimed pids looked at again per ``collect()``, at most.
    static let rechecksPerLook = 4
    /// Unclaimed pids are looked at again by at most one look per this many seconds: however
    /// often scrapes come, a few looks at dead pids per second at most.
    static let recheckSpacing = 0.25
    /// The longest wait between two looks at an unclaimed pid, seconds.
    static let longestRecheckWait = 64.0
    /// Members whose `/proc` entry is held open (two descriptors each; ``ProcessHandle``); the
    /// others are read by path, a little slower.
    static let handlesHeld = 256

    /// A collector for the app writing `directory`, reading `processes` (tests pass a fake
    /// `/proc`) and timing with `clock`. Nothing is read until ``collect()``.
    public init(directory: String, processes: ProcessTable = ProcessTable(), clock: BootClock = .system) {
        self.directory = directory
        self.processes = processes
        self.clock = clock
        bootTime = processes.bootTime() ?? (clock.wallNow() - clock.bootNow())
    }

    /// One look at the app's processes (see the type's doc). Blocks for the `/proc` reads:
    /// tens of microseconds per live process; never call it on an event loop.
    public func collect() -> WorkerReport {
        let started = monotonicNow()
        var report = state.withLock { state -> WorkerReport in
            var report = WorkerReport()
            report.skipped = state.pendingSkips
            state.pendingSkips = [:]
            discover(&state, report: &report)
            report.visible = visibility(state)
            guard report.visible == true else {
                if report.visible == false { report.skipped[.notVisible, default: 0] += 1 }
                return report
            }
            read(&state, into: &report)
            return report
        }
        report.duration = monotonicNow() - started
        return report
    }

    /// Reads the proportional memory (`Pss` of `smaps_rollup`) of each live worker and parent
    /// whose value is missing or older than `olderThan` seconds. Costly (the kernel walks the
    /// process's page tables): call it off the scrape path, every second or so; each process
    /// is read at most once per `olderThan`. Values appear in the reports of later looks.
    public func refreshProportionalMemory(olderThan age: Double) {
        let now = monotonicNow()
        let due = state.withLock { state in
            state.members.values.filter { !$0.exited && ($0.proportionalReadAt.map { now - $0 >= age } ?? true) }
                .map { (id: $0.id, pid: $0.pid, start: $0.startTicks) }
        }
        for process in due {
            let value = processes.proportionalSetBytes(of: process.pid)
            // The pid may have changed hands while it was read.
            guard case .success(let stat) = processes.stat(of: process.pid), stat.startTicks == process.start else { continue }
            state.withLock { state in
                guard state.members[process.id] != nil else { return }
                // A refusal is not asked again before `age` either: the answer will not change.
                state.members[process.id]!.proportionalReadAt = monotonicNow()
                switch value {
                case .success(let bytes): state.members[process.id]!.proportionalBytes = Double(bytes)
                case .failure(.denied): state.pendingSkips[.permissionDenied, default: 0] += 1
                case .failure: break
                }
            }
        }
    }

    /// Visible once a writer was seen and while no listed pid shows another namespace; nil
    /// while no pid was looked at.
    func visibility(_ state: State) -> Bool? {
        if !state.unclaimed.foreign.isEmpty { return false }
        if state.sawWriter { return true }
        return state.lookedAtAny ? false : nil
    }
}
