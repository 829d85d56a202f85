import Logging
import MultiprocSupport

/// The web config a running server uses, kept as current as exporter-toolkit keeps it (which
/// reads the file for every request and handshake) without reading files on the event loop.
///
/// - Every request and every new connection first `stat`s the config file and the files it
///   names (``proceedsNow(orAfterReload:)``, ``contextForNewConnection()``). When one changed,
///   a worker loads them again and the request waits for it: a password changed or a user
///   removed is in force for the very next request. An inotify watch on their folders
///   (``WebConfigWatch``) starts the reload when the edit is made, and accepting pauses until
///   it is done, so that the next handshake gets a new certificate too.
/// - The new config replaces the old one in a single assignment, so a request or connection
///   sees either all of the old config or all of the new one.
/// - A reload that fails (bad YAML, unreadable certificate, key that does not match…) keeps the
///   last good config: it is logged once per change of the files and counted in
///   `multiproc_exporter_web_config_reloads_total{result="failure"}`. Turning TLS on or off
///   needs a restart (the listener is already plain or TLS), so such an edit fails the same way.
///   A reload that reads the same bytes as the running config (a `touch`) changes nothing and
///   is not counted.
///
/// Threads: everything but the reload itself runs on the loop thread.
final class LiveWebConfig: Sendable {
    /// What a request needs, taken in one lock: headers to add, users to check, and whether the
    /// rate limit lets it through.
    struct Admission {
        let headers: [(String, String)]
        let users: BasicAuthUsers
        let admitted: Bool
    }

    /// What a reload needs from the event loop. Set by ``attach(_:watchWith:)`` before the loop runs.
    struct Loop: Sendable {
        /// Runs a task on the loop thread (from any thread).
        let perform: @Sendable (@escaping @Sendable () -> Void) -> Void
        /// Loop thread: stop or resume accepting connections.
        let setAccepting: @Sendable (Bool) -> Void
    }

    private struct State {
        var loaded: LoadedWebConfig
        var bucket: TokenBucket?
        /// Fingerprints of the last attempt, good or bad, so that a bad edit is reported once.
        var attempted: [FileFingerprint]
        /// The last attempt read a file in the clock tick of its last change: an edit in the
        /// same tick would leave the fingerprints equal, so the next check loads again.
        var mayMissEdit: Bool
        var reloading = false
        /// A check came while the reload ran: the files may have changed after it read them.
        var recheck = false
        /// The last failure reported, and the files it read: the same failure read again (a
        /// reload for ``mayMissEdit``) is not reported twice.
        var reportedFailure: (error: String, files: [FileFingerprint])?
        /// Work waiting for the running reload: requests that found the files changed, or
        /// arrived while it ran.
        var waiting: [@Sendable () -> Void] = []
        var loop: Loop?
    }

    let path: String
    private let state: Locked<State>
    private let pool: WorkerPool
    private let metrics: ExporterMetrics
    private let logger: Logger
    /// Loop thread only (see ``WebConfigWatch``); nil without inotify.
    nonisolated(unsafe) private let watch = WebConfigWatch()

    init(path: String, initial: LoadedWebConfig, pool: WorkerPool, metrics: ExporterMetrics, logger: Logger) {
        self.path = path
        state = Locked(State(loaded: initial, bucket: initial.config.rateLimit.map { TokenBucket($0, now: monotonicNow()) },
                             attempted: initial.files,
                             mayMissEdit: FileFingerprint.mayMissEdit(initial.files, readDuring: initial.readDuring)))
        self.pool = pool
        self.metrics = metrics
        self.logger = logger
        for note in initial.config.notes { logger.warning("web config: \(note)") }
    }

    /// Connects to the loop that serves with this config: its inotify watch, and what reloads
    /// do there. Before the loop runs (on the thread that will run it).
    func attach(_ loop: Loop, watchWith server: EventLoopServer) {
        state.withLock { $0.loop = loop }
        guard let watch else { return }
        watch.watch(foldersOf: state.withLock { $0.attempted.map(\.path) })
        server.watch(readable: watch.descriptor) { [self] in
            watch.drain()
            filesMayHaveChanged()
        }
    }

    // MARK: Serving (loop thread)

    /// Whether a request may go on with the config as it is: true when its files are as last
    /// read. Otherwise a reload runs (or is started) and `then` is called on the loop once it
    /// ended (with the new config, or the last good one); the request must wait for it.
    func proceedsNow(orAfterReload then: @escaping @Sendable () -> Void) -> Bool {
        checkFiles(waiter: then)
    }

    /// The TLS context for a new connection (nil when TLS is off). A change noticed here starts
    /// a reload, but this connection keeps the context it gets now: the handshake cannot wait
    /// (see ``WebConfigWatch``, which notices edits before the accept).
    func contextForNewConnection() -> TLSContext? {
        _ = checkFiles(waiter: nil)
        return state.withLock { $0.loaded.tls }
    }

    /// inotify or the poll timer: a reload if the files changed (nothing waits for it).
    func filesMayHaveChanged() {
        _ = checkFiles(waiter: nil)
    }

    /// Headers, users and the rate limit decision for one request.
    func admit() -> Admission {
        state.withLock { state in
            let admitted = state.bucket?.allow(now: monotonicNow()) ?? true
            return Admission(headers: state.loaded.headers, users: state.loaded.users, admitted: admitted)
        }
    }

    // MARK: Reload

    /// `stat`s the files and starts a reload when they changed; true when nothing runs or
    /// starts (the config is current), false when `waiter` (if any) waits for a reload.
    private func checkFiles(waiter: (@Sendable () -> Void)?) -> Bool {
        let watched = state.withLock { $0.reloading ? nil : ($0.attempted, $0.mayMissEdit) }
        var current = true
        if let (attempted, mayMissEdit) = watched {
            current = !mayMissEdit && attempted.allSatisfy(\.isCurrent)
        }
        enum Next { case proceed, wait, start(Loop?) }
        let next: Next = state.withLock { state in
            if !state.reloading && current { return .proceed }
            if let waiter { state.waiting.append(waiter) }
            guard !state.reloading else {
                state.recheck = true
                return .wait
            }
            state.reloading = true
            return .start(state.loop)
        }
        switch next {
        case .proceed: return true
        case .wait: return false
        case .start(let loop):
            // New connections wait in the listen backlog: none gets the config being replaced.
            if state.withLock({ $0.loaded.tls != nil }) { loop?.setAccepting(false) }
            pool.submit { self.reload(loop: loop) }
            return false
        }
    }

    /// Worker: loads the files, swaps the config in, then (on the loop) resumes accepting and
    /// the waiting requests.
    private func reload(loop: Loop?) {
        let started = FileFingerprint.coarseNow()
        let (running, wasTLS, failing) = state.withLock { ($0.loaded, $0.loaded.tls != nil, $0.reportedFailure != nil) }
        // Taken before the load reads anything: what a failed attempt read at the latest.
        let before = Self.fingerprints(of: path, running: running)
        let result: Result<LoadedWebConfig?, ConfigurationError>
        do throws(ConfigurationError) {
            let loaded = try WebConfigLoader.load(path: path, previous: running)
            if (loaded.tls != nil) != wasTLS {
                throw ConfigurationError("web config: turning TLS \(wasTLS ? "off" : "on") needs a restart; keeping the running config")
            }
            // The same bytes (a `touch`, a neighbour in the folder edited): no change. After a
            // failure, the running config's bytes back are a good edit (the failure is over).
            result = .success(loaded.digest == running.digest && !failing ? nil : loaded)
        } catch {
            result = .failure(error)
        }
        let attempted: [FileFingerprint]
        if case .success(let loaded?) = result { attempted = loaded.files } else { attempted = before }
        let mayMissEdit = FileFingerprint.mayMissEdit(attempted, readDuring: started...FileFingerprint.coarseNow())
        let (waiters, reports) = state.withLock { state in
            state.reloading = false
            state.attempted = attempted
            state.mayMissEdit = mayMissEdit
            var reports = true
            switch result {
            case .failure(let error):
                reports = state.reportedFailure.map { $0.error != error.description || $0.files != attempted } ?? true
                state.reportedFailure = (error.description, attempted)
            case .success(let loaded):
                if loaded != nil { state.reportedFailure = nil }
            }
            if case .success(let loaded?) = result {
                if loaded.config.rateLimit != state.loaded.config.rateLimit {
                    state.bucket = loaded.config.rateLimit.map { TokenBucket($0, now: monotonicNow()) }
                }
                state.loaded = loaded
            }
            defer { state.waiting = [] }
            return (state.waiting, reports)
        }
        if reports { report(result) }
        let resume: @Sendable () -> Void = { [self] in
            watch?.watch(foldersOf: attempted.map(\.path))
            // An edit seen while the reload ran may be newer than what it read: look again
            // before accepting. Each waiter looks again too, and waits for that reload if one starts.
            if state.withLock({ state in defer { state.recheck = false }; return state.recheck }) {
                _ = checkFiles(waiter: nil)
            }
            if wasTLS, !state.withLock({ $0.reloading }) { loop?.setAccepting(true) }
            for waiter in waiters { waiter() }
        }
        if let loop { loop.perform(resume) } else { for waiter in waiters { waiter() } }
    }

    private func report(_ result: Result<LoadedWebConfig?, ConfigurationError>) {
        switch result {
        case .success(nil):
            break  // the same bytes: nothing changed
        case .success(let loaded?):
            metrics.count(webConfigReload: true)
            for note in loaded.config.notes { logger.warning("web config: \(note)") }
            logger.info("web config reloaded", metadata: ["file": "\(path)", "tls": "\(loaded.tls != nil)",
                                                          "users": "\(loaded.config.users.count)"])
        case .failure(let error):
            metrics.count(webConfigReload: false)
            logger.error("web config reload failed; keeping the last good config", metadata: ["file": "\(path)", "err": "\(error.description)"])
        }
    }

    /// What to watch should the load fail: the config file, the files it names if it parses (a
    /// certificate it points to may be created next), and those of the running config. Each
    /// `stat` comes before the file is read (the config file's before ``WebConfigLoader/namedFiles(path:)``).
    private static func fingerprints(of path: String, running: LoadedWebConfig) -> [FileFingerprint] {
        let config = FileFingerprint(path: path)
        var paths = WebConfigLoader.namedFiles(path: path)
        for file in running.files.dropFirst().map(\.path) where !paths.contains(file) { paths.append(file) }
        return [config] + paths.map(FileFingerprint.init)
    }
}
