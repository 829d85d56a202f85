/// Everything `multiproc-exporter serve` can be told, as plain values (the CLI fills it from flags).
public struct ExporterConfiguration: Sendable {
    /// `--web.listen-address`.
    public var listenAddress = ListenAddress(host: nil, port: 8987)
    /// `--web.telemetry-path`.
    public var telemetryPath = "/metrics"
    /// Shown (HTML-escaped) on the landing page.
    public var directory = ""
    /// Reported by `multiproc_exporter_build_info` and the landing page.
    public var version = ExporterVersion.current
    /// The git commit, reported by `multiproc_exporter_build_info`.
    public var revision = ExporterVersion.revision
    /// `--web.disable-exporter-metrics` turns off `multiproc_exporter_*` and `process_*`.
    public var exporterMetricsEnabled = true
    /// `--[no-]web.enable-admin`: whether `POST /mark-dead/<pid>` exists.
    public var adminEnabled = true
    /// `--web.admin-token-file`: when set, every admin request needs this bearer token.
    public var adminToken: AdminToken?
    /// Without a token, which clients may call the admin endpoint. Loopback only by default;
    /// tests inject other rules here.
    public var trustsAdminPeer: @Sendable (PeerAddress?) -> Bool = { $0?.isLoopback ?? false }
    /// `--web.max-requests`: `/metrics` requests in flight at once; more get 503.
    public var maxRequests = 40
    /// `--scrape.min-interval` in seconds: 0 (default) refreshes for every request.
    public var minScrapeInterval: Double = 0
    /// `--web.gzip-level`, 1…9.
    public var gzipLevel = 1
    /// `--auto-mark-dead.interval` in seconds when `--auto-mark-dead` is on; nil (default):
    /// off. See ``DeadWorkerFinder``.
    public var autoMarkDeadInterval: Double?
    /// The workers collector (`multiproc_worker_*`, `multiproc_parent_*`): on by default;
    /// nil with `--no-collector.workers`. See ``WorkerCollector``.
    public var workers: WorkersCollection? = WorkersCollection()
    /// Worker threads for refreshes, rendering, gzip and mark-dead.
    public var workerThreads = 2
    /// Header/body sizes and timeouts enforced by the transport.
    public var limits = ServerLimits()
    /// `--compaction`: fold dead pids' files into archives every `interval` seconds, once
    /// they are `delay` seconds dead (nil: off, the default).
    public var compaction: CompactionSchedule?
    /// `--web.config.file`: TLS, basic auth and headers in exporter-toolkit's format; nil: plain HTTP.
    public var webConfigFile: String?
    /// Seconds between checks whether the web config file or a file it names changed.
    public var webConfigReloadInterval: Double = 3
    /// Whether SIGTERM/SIGINT start a graceful shutdown (the CLI sets this; in-process tests do not).
    public var handlesSignals = false

    /// The defaults of `multiproc-exporter serve`.
    public init() {}

    /// Checks combinations of values that the flags alone cannot reject.
    public func validate() throws(ConfigurationError) {
        let path = telemetryPath
        guard path.hasPrefix("/"), !path.contains("?"), !path.contains("#"), !path.contains(" ") else {
            throw ConfigurationError("--web.telemetry-path must be an absolute path such as /metrics, not \"\(path)\"")
        }
        guard path != "/healthz", !path.hasPrefix("/mark-dead/") else {
            throw ConfigurationError("--web.telemetry-path \(path) collides with a built-in route")
        }
        guard (1...9).contains(gzipLevel) else { throw ConfigurationError("--web.gzip-level must be 1 to 9, not \(gzipLevel)") }
        guard maxRequests >= 1 else { throw ConfigurationError("--web.max-requests must be at least 1") }
        guard webConfigReloadInterval > 0 else { throw ConfigurationError("the web config reload interval must be positive") }
        if let interval = autoMarkDeadInterval, !(interval >= 0.05 && interval <= 86_400) {
            throw ConfigurationError("--auto-mark-dead.interval must be between 50ms and 24h")
        }
        guard minScrapeInterval >= 0 else { throw ConfigurationError("--scrape.min-interval must not be negative") }
        if let workers, !(workers.proportionalMemoryInterval >= 0) {
            throw ConfigurationError("--collector.workers.pss-interval must not be negative")
        }
        if let compaction {
            guard compaction.delay >= 0 else { throw ConfigurationError("--compaction.delay must not be negative") }
            guard compaction.interval > 0 else { throw ConfigurationError("--compaction.interval must be positive") }
        }
    }
}

/// When compaction passes run (see ``ExporterConfiguration/compaction``).
public struct CompactionSchedule: Sendable, Equatable {
    /// `--compaction.delay`: seconds a dead pid's files must stay unchanged before they are folded.
    public var delay: Double
    /// `--compaction.interval`: seconds between passes.
    public var interval: Double

    /// Defaults: folded one minute after death, passes every 10 seconds.
    public init(delay: Double = 60, interval: Double = 10) {
        self.delay = delay
        self.interval = interval
    }
}

/// How the app's processes are read (see ``ExporterConfiguration/workers``).
public struct WorkersCollection: Sendable, Equatable {
    /// `--collector.workers.pss-interval`: seconds between two reads of a process's
    /// proportional memory (`smaps_rollup`, read in the background); 0 never reads it.
    public var proportionalMemoryInterval: Double
    /// The `/proc` read (tests pass a tree laid out like it).
    package var processRoot = "/proc"

    /// Defaults: proportional memory read every 30 seconds.
    public init(proportionalMemoryInterval: Double = 30) {
        self.proportionalMemoryInterval = proportionalMemoryInterval
    }
}
