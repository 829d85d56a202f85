import Logging
import MultiprocSupport

/// The web config a running server uses, and its reload: the loop polls the files' fingerprints
/// on a timer (``poll()``), a worker rebuilds everything when one changed, and the new config
/// replaces the old one in a single assignment, so a request or connection sees either all of
/// the old config or all of the new one.
///
/// A reload that fails (bad YAML, unreadable certificate, key that does not match…) keeps the
/// last good config: it is logged once per change of the files and counted in
/// `multiproc_exporter_web_config_reloads_total{result="failure"}`. Turning TLS on or off needs
/// a restart (the listener is already plain or TLS), so such an edit fails the same way.
final class LiveWebConfig: Sendable {
    /// What a request needs, taken in one lock: headers to add, users to check, and whether the
    /// rate limit lets it through.
    struct Admission {
        let headers: [(String, String)]
        let users: BasicAuthUsers
        let admitted: Bool
    }

    private struct State {
        var loaded: LoadedWebConfig
        var bucket: TokenBucket?
        /// Fingerprints of the last attempt, good or bad, so that a bad edit is reported once.
        var attempted: [FileFingerprint]
        var reloading = false
    }

    let path: String
    private let state: Locked<State>
    private let pool: WorkerPool
    private let metrics: ExporterMetrics
    private let logger: Logger

    init(path: String, initial: LoadedWebConfig, pool: WorkerPool, metrics: ExporterMetrics, logger: Logger) {
        self.path = path
        state = Locked(State(loaded: initial, bucket: initial.config.rateLimit.map { TokenBucket($0, now: monotonicNow()) },
                             attempted: initial.files))
        self.pool = pool
        self.metrics = metrics
        self.logger = logger
        for note in initial.config.notes { logger.warning("web config: \(note)") }
    }

    /// The TLS context for a new connection (nil when TLS is off).
    var tlsContext: TLSContext? { state.withLock { $0.loaded.tls } }

    /// Headers, users and the rate limit decision for one request.
    func admit() -> Admission {
        state.withLock { state in
            let admitted = state.bucket?.allow(now: monotonicNow()) ?? true
            return Admission(headers: state.loaded.headers, users: state.loaded.users, admitted: admitted)
        }
    }

    // MARK: Reload

    /// Loop thread, on the poll timer: `stat`s the files and, if any changed since the last
    /// attempt, rebuilds on a worker.
    func poll() {
        let watched = state.withLock { $0.reloading ? nil : $0.attempted.map(\.path) }
        guard let watched else { return }
        let now = watched.map(FileFingerprint.init)
        let changed = state.withLock { state -> Bool in
            guard !state.reloading, now != state.attempted else { return false }
            state.reloading = true
            return true
        }
        if changed { pool.submit { self.reload() } }
    }

    private func reload() {
        let result: Result<LoadedWebConfig, ConfigurationError>
        do {
            let loaded = try WebConfigLoader.load(path: path)
            let wasTLS = state.withLock { $0.loaded.tls != nil }
            if (loaded.tls != nil) != wasTLS {
                throw ConfigurationError("web config: turning TLS \(wasTLS ? "off" : "on") needs a restart; keeping the running config")
            }
            result = .success(loaded)
        } catch let error as ConfigurationError {
            result = .failure(error)
        } catch {
            result = .failure(ConfigurationError("\(error)"))
        }
        let attempted = (try? result.get().files) ?? Self.fingerprints(after: path, state: state)
        state.withLock { state in
            state.reloading = false
            state.attempted = attempted
            if case .success(let loaded) = result {
                if loaded.config.rateLimit != state.loaded.config.rateLimit {
                    state.bucket = loaded.config.rateLimit.map { TokenBucket($0, now: monotonicNow()) }
                }
                state.loaded = loaded
            }
        }
        switch result {
        case .success(let loaded):
            metrics.count(webConfigReload: true)
            for note in loaded.config.notes { logger.warning("web config: \(note)") }
            logger.info("web config reloaded", metadata: ["file": "\(path)", "tls": "\(loaded.tls != nil)",
                                                          "users": "\(loaded.config.users.count)"])
        case .failure(let error):
            metrics.count(webConfigReload: false)
            logger.error("web config reload failed; keeping the last good config", metadata: ["file": "\(path)", "err": "\(error.description)"])
        }
    }

    /// After a failed load: the config file, the files the broken config names if it still parses
    /// (a certificate it points to may be created next), and those of the running config.
    private static func fingerprints(after path: String, state: Locked<State>) -> [FileFingerprint] {
        var paths = [path] + WebConfigLoader.namedFiles(path: path)
        for file in state.withLock({ $0.loaded.files.map(\.path) }) where !paths.contains(file) { paths.append(file) }
        return paths.map(FileFingerprint.init)
    }
}
