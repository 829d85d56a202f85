import Dispatch
import Glibc
import MultiprocSupport

/// Reads the metric files that prometheus_client writes in multiprocess mode and merges them
/// exactly as its `MultiProcessCollector` does, keeping its work between scrapes.
///
/// ```swift
/// import MultiprocCollector
///
/// let collector = try DirectoryCollector(directory: "/run/prometheus-multiproc")
/// let snapshot = collector.collect()          // or `await collector.collect()`
/// let body = snapshot.body(ExpositionFormat.negotiate(accept: acceptHeader))
/// ```
///
/// Every ``collect()`` returns current values (nothing is time-cached); what is cached is the
/// work: each file's mapping, its parsed keys and their value offsets, and the compiled merge.
/// A scrape of an unchanged directory lists it, loads values at known offsets and folds them.
///
/// ## Blocking
/// ``collect()`` does file I/O and CPU work on the calling thread: microseconds to
/// milliseconds for a warm scrape, up to seconds for the first scrape of a directory holding
/// thousands of files. Do not call it on an event loop or from Swift concurrency's
/// cooperative threads; from async code use `await collector.collect()`, which runs the work
/// on a thread of its own.
///
/// ## Thread safety
/// All methods may be called from any thread. Scrapes are serialized; ``markDead(pid:)``
/// does not wait for a scrape in progress.
///
/// ## Truncated files
/// Files are mapped read-only. A file truncated by someone else while it is read would raise
/// `SIGBUS`; ``SigbusProtection`` absorbs it, and the collector installs it when created
/// unless ``Options/installsSigbusHandler`` says the embedder does so itself.
public final class DirectoryCollector: @unchecked Sendable {

    /// How a collector is set up.
    public struct Options: Sendable {
        /// Whether creating the collector installs ``SigbusProtection`` (the default). Set it
        /// to false to decide the order of `SIGBUS` handlers yourself: then call
        /// ``SigbusProtection/install()`` before creating the collector, or creation fails
        /// with ``CollectorError/sigbusProtectionMissing``.
        public var installsSigbusHandler = true

        /// Whether ``DirectoryCollector/markDead(pid:)`` records the pid (with its files as they
        /// are) in the directory's compaction journal, for ``DirectoryCollector/compact(delay:)``
        /// to fold later. Off by default; `serve --compaction` and `compact` turn it on. A pid
        /// is also recorded whenever the directory already has a journal (an exporter compacts
        /// it), so `multiproc-exporter mark-dead` feeds a compacting exporter.
        public var recordsDeadPids = false

        /// A textfile directory to serve with the `.db` files (`--textfile.directory`): every
        /// `*.prom` file in it, read on every scrape as node_exporter reads it (see
        /// ``TextfileCollector``); ``Snapshot/textfiles`` reports on it. Nil (default): none.
        public var textfileDirectory: String?

        /// How the textfile directory is read (size limit, names the caller keeps).
        public var textfileOptions = TextfileCollector.Options()

        /// The most dead pids one ``DirectoryCollector/compact(delay:)`` pass folds, oldest
        /// deaths first; the rest wait for the next pass. It bounds how long a switch holds
        /// scrapes (it checks every file it folds once more) and the pass's journal records;
        /// memory does not depend on it (files are read one at a time).
        public var maxPidsPerPass = 500

        /// Entries from which values load on two threads (tests lower it to force that path).
        var parallelLoadThreshold = ValueLoader.parallelThreshold
        /// How files changed by system calls are noticed (tests pick the fallbacks).
        var changeDetection = FileChangeWatch.Detection.inotify
        /// Compaction stops before the step for which this returns true, as a crash would
        /// (tests of crash safety).
        var compactionStopBefore: @Sendable (CompactionStep) -> Bool = { _ in false }
        /// Seconds each compaction pass sleeps before each of its steps: a hidden `serve` flag
        /// for the kill -9 test, which needs its kills to land inside passes (0: never).
        package var compactionStepPause: Double = 0

        /// The defaults.
        public init() {}
    }

    /// The directory holding the `.db` files (`PROMETHEUS_MULTIPROC_DIR`).
    public let directory: String

    let options: Options
    let state: Locked<CacheState>
    /// Pids marked dead since the last scrape: kept apart so mark-dead never waits for a scrape.
    let newlyDead = Locked<[String]>([])
    /// Serializes compaction passes of this process (other processes' are kept out by ``CompactorLock``).
    let compactionLock = Locked(())
    /// Every pid ``markDead(pid:)`` was called for (see ``markedDeadPids``).
    private let markedDead = Locked<Set<Int>>([])
    /// Where the async `collect()` runs the blocking work.
    private let queue = DispatchQueue(label: "multiproc-collector")
    /// Reads ``Options/textfileDirectory`` on every scrape; nil without one.
    let textfiles: TextfileCollector?

    /// Creates a collector for `directory`, which must exist and be a directory.
    ///
    /// - Throws: ``CollectorError/directoryMissing(path:)``, ``CollectorError/notADirectory(path:)``,
    ///   ``CollectorError/permissionDenied(path:)`` or ``CollectorError/directoryUnreadable(path:reason:)``
    ///   for the directory; ``CollectorError/sigbusProtectionFailed(_:)`` or
    ///   ``CollectorError/sigbusProtectionMissing`` for the `SIGBUS` handler. The same
    ///   directory errors for ``Options/textfileDirectory``, naming that path.
    public init(directory: String, options: Options = Options()) throws(CollectorError) {
        if options.installsSigbusHandler {
            do { try SigbusProtection.install() } catch { throw .sigbusProtectionFailed(error.reason) }
        } else if !SigbusProtection.isInstalled {
            throw .sigbusProtectionMissing
        }
        let dir = try MetricDirectory(path: directory)
        textfiles = try options.textfileDirectory.map { path throws(CollectorError) in
            try TextfileCollector(directory: path, options: options.textfileOptions)
        }
        self.directory = directory
        self.options = options
        state = Locked(CacheState(options: options))
        // Pids the compaction journal lists as dead were marked before a restart: still marked.
        if let records = try? CompactionJournal(directory: dir.descriptor).load().records {
            markedDead.withLock { $0 = Set(CompactionLedger(records).dead.keys.compactMap { Int($0) }) }
        }
    }

    /// Test seam: a collector loading values on two threads from `parallelLoadThreshold`
    /// entries, noticing files changed by system calls as `changeDetection` says.
    convenience init(directory: String, parallelLoadThreshold: Int = ValueLoader.parallelThreshold,
                     changeDetection: FileChangeWatch.Detection = .inotify) throws(CollectorError) {
        var options = Options()
        options.parallelLoadThreshold = parallelLoadThreshold
        options.changeDetection = changeDetection
        try self.init(directory: directory, options: options)
    }

    /// Reads what changed since the last call and returns the merged metrics. Blocks the
    /// calling thread (see the type's "Blocking" section).
    public func collect() -> Snapshot {
        let started = monotonicNow()
        var snapshot = state.withLock { cache in
            let dead = newlyDead.withLock { pending in
                defer { pending = [] }
                return pending
            }
            return cache.refresh(path: directory, newlyDead: dead)
        }
        // Outside the cache's lock: textfiles are read whole every time and share no state with it.
        snapshot.textfiles = textfiles?.collect(besides: snapshot.plan)
        snapshot.statistics.duration = monotonicNow() - started
        return snapshot
    }

    /// The same as the blocking `collect()`, for async callers: the work runs on a thread of
    /// the collector's own, never on the cooperative thread pool.
    public func collect() async -> Snapshot {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: self.collect()) }
        }
    }

    /// Marks `pid` dead, as prometheus_client's `mark_process_dead` does: removes that pid's
    /// `gauge_live*_<pid>.db` files and nothing else. Idempotent.
    ///
    /// The pid's remaining files (counters, histograms, non-live gauges) no longer change, so
    /// after the next scrape has read them they are folded into a pre-merged aggregate and not
    /// read again; a scrape then costs in proportion to the live files. Should a new worker
    /// reuse the pid and show it (a new file or inode, a live gauge file, a file whose `used`
    /// changes because it added a series), its files are read normally again. A reuser that
    /// only updates existing series in place is not noticed until it is marked dead in turn,
    /// which reads the files once more.
    ///
    /// - Returns: the names of the files removed (empty when there were none).
    /// When the directory is compacted (``Options/recordsDeadPids``, or a journal exists), the
    /// pid and its foldable files as they are now are also recorded in the journal: after
    /// the compaction delay, ``compact(delay:)`` folds them if they are still exactly so.
    ///
    /// - Throws: ``CollectorError/invalidPid(_:)`` for a pid below 1, the directory errors
    ///   of ``init(directory:options:)`` when the directory cannot be opened,
    ///   ``CollectorError/removeFailed(file:reason:)`` when a file exists but cannot be removed,
    ///   ``CollectorError/deadPidNotRecorded(pid:reason:)`` when the live gauges are gone but
    ///   the journal could not record the pid.
    @discardableResult
    public func markDead(pid: Int) throws(CollectorError) -> [String] {
        guard pid > 0 else { throw .invalidPid(pid) }
        let dir = try MetricDirectory(path: directory)
        var removed: [String] = []
        for name in MetricFileName.liveGaugeFileNames(pid: pid) {
            // unlinkat never follows a symlink and refuses directories: only that name goes.
            if unlinkat(dir.descriptor, name, 0) == 0 {
                removed.append(name)
            } else if errno != ENOENT {
                throw .removeFailed(file: name, reason: errnoText(errno))
            }
        }
        // From the next scrape on, this pid's other files are read once more, then folded.
        newlyDead.withLock { $0.append(String(pid)) }
        try recordDead(pid: String(pid), in: dir.descriptor)
        markedDead.withLock { _ = $0.insert(pid) }
        return removed
    }

    /// The pids ``markDead(pid:)`` was called for through this collector, successfully, and
    /// those the directory's compaction journal listed as dead when the collector was made.
    ///
    /// A pid stays in the set when a new process reuses it; callers that look for dead workers
    /// (``DeadWorkerFinder``) look again at a marked pid whose live gauge files reappear.
    public var markedDeadPids: Set<Int> {
        markedDead.withLock { $0 }
    }
}

/// Errors the collector reports to its caller.
public enum CollectorError: Error, Equatable, CustomStringConvertible {
    /// The metric directory does not exist.
    case directoryMissing(path: String)
    /// The path exists but is not a directory.
    case notADirectory(path: String)
    /// The directory exists but this process may not read it (`EACCES`, `EPERM`).
    case permissionDenied(path: String)
    /// The directory cannot be opened for another reason (`strerror` text).
    case directoryUnreadable(path: String, reason: String)
    /// A pid below 1.
    case invalidPid(Int)
    /// A live gauge file exists but could not be removed.
    case removeFailed(file: String, reason: String)
    /// mark-dead removed the pid's live gauge files but could not record the pid in the
    /// compaction journal (it will not be compacted unless marked dead again).
    case deadPidNotRecorded(pid: Int, reason: String)
    /// ``SigbusProtection/install()`` failed.
    case sigbusProtectionFailed(String)
    /// ``DirectoryCollector/Options/installsSigbusHandler`` is false and nobody installed it.
    case sigbusProtectionMissing

    /// The directory the error is about, for the directory errors.
    public var path: String? {
        switch self {
        case .directoryMissing(let path), .notADirectory(let path), .permissionDenied(let path), .directoryUnreadable(let path, _):
            return path
        default:
            return nil
        }
    }

    public var description: String {
        switch self {
        case .directoryMissing(let path): return "\(path): no such directory"
        case .notADirectory(let path): return "\(path): not a directory"
        case .permissionDenied(let path): return "\(path): permission denied"
        case .directoryUnreadable(let path, let reason): return "\(path): \(reason)"
        case .invalidPid(let pid): return "invalid pid \(pid): must be a positive integer"
        case .removeFailed(let file, let reason): return "cannot remove \(file): \(reason)"
        case .deadPidNotRecorded(let pid, let reason):
            return "pid \(pid): live gauge files removed, but the compaction journal could not record it: \(reason)"
        case .sigbusProtectionFailed(let reason): return "cannot install the SIGBUS handler: \(reason)"
        case .sigbusProtectionMissing:
            return "the SIGBUS handler is not installed: call SigbusProtection.install() or set Options.installsSigbusHandler"
        }
    }
}
