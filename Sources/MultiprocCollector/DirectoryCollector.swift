#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the metric files that prometheus_client writes in multiprocess mode and merges them
/// exactly as its `MultiProcessCollector` does, keeping its work between scrapes.
///
/// ```swift
/// let collector = try DirectoryCollector(directory: "/run/prometheus-multiproc")
/// let snapshot = collector.collect()
/// let body = snapshot.body(ExpositionFormat.negotiate(accept: request.accept))
/// ```
///
/// Every ``collect()`` returns current values (nothing is time-cached); what is cached is the
/// work: each file's mapping, its parsed keys and their value offsets, and the compiled merge.
/// A scrape of an unchanged directory lists it, loads values at known offsets and folds them.
///
/// Thread safety: all methods may be called from any thread. Scrapes are serialized;
/// ``markDead(pid:)`` does not wait for a scrape in progress.
///
/// The collector maps files read-only and installs a process-wide `SIGBUS` handler on first
/// use (see ``SigbusGuard``) so that a file truncated while it is read cannot crash the process.
public final class DirectoryCollector: @unchecked Sendable {

    /// The directory holding the `.db` files (`PROMETHEUS_MULTIPROC_DIR`).
    public let directory: String

    private let state: Locked<CacheState>
    /// Pids marked dead since the last scrape: kept apart so mark-dead never waits for a scrape.
    private let newlyDead = Locked<[String]>([])

    /// Creates a collector for `directory`, which must exist and be a directory.
    public convenience init(directory: String) throws(CollectorError) {
        try self.init(directory: directory, parallelLoadThreshold: ValueLoader.parallelThreshold)
    }

    init(directory: String, parallelLoadThreshold: Int) throws(CollectorError) {
        do {
            _ = try MetricDirectory(path: directory)
        } catch {
            throw .directory(error.description)
        }
        self.directory = directory
        state = Locked(CacheState(parallelLoadThreshold: parallelLoadThreshold))
    }

    /// Reads what changed since the last call and returns the merged metrics.
    public func collect() -> Snapshot {
        let started = monotonicSeconds()
        var snapshot = state.withLock { cache in
            let dead = newlyDead.withLock { pending in
                defer { pending = [] }
                return pending
            }
            return cache.refresh(path: directory, newlyDead: dead)
        }
        snapshot.statistics.duration = monotonicSeconds() - started
        return snapshot
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
    /// - Throws: ``CollectorError/invalidPid(_:)`` for a pid below 1,
    ///   ``CollectorError/directory(_:)`` when the directory cannot be opened,
    ///   ``CollectorError/removeFailed(file:reason:)`` when a file exists but cannot be removed.
    @discardableResult
    public func markDead(pid: Int) throws(CollectorError) -> [String] {
        guard pid > 0 else { throw .invalidPid(pid) }
        let dir: MetricDirectory
        do { dir = try MetricDirectory(path: directory) } catch { throw .directory(error.description) }
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
        return removed
    }
}

/// Errors the collector reports to its caller.
public enum CollectorError: Error, Equatable, CustomStringConvertible {
    /// The metric directory is missing, not a directory, or unreadable.
    case directory(String)
    /// A pid outside 1…
    case invalidPid(Int)
    /// A live gauge file exists but could not be removed.
    case removeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case .directory(let why): return why
        case .invalidPid(let pid): return "invalid pid \(pid): must be a positive integer"
        case .removeFailed(let file, let reason): return "cannot remove \(file): \(reason)"
        }
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
