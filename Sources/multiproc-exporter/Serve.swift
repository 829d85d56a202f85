import ArgumentParser
import ExporterHTTP
import Logging
import MultiprocCollector
import Glibc

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the merged metrics over HTTP (GET /metrics, GET /healthz, POST /mark-dead/<pid>); optionally mark dead workers by itself (--auto-mark-dead).")

    @Option(name: .customLong("web.listen-address"),
            help: "Address to listen on: host:port, :port or [ipv6]:port; port 0 picks a free port. The default port 8987 lies outside 9100-9999, which the Prometheus default port allocations have filled.")
    var listenAddress = ":8987"

    @Option(name: .customLong("web.telemetry-path"), help: "Path under which to expose metrics.")
    var telemetryPath = "/metrics"

    @Flag(name: .customLong("web.disable-exporter-metrics"),
          help: "Leave out the multiproc_exporter_* and process_* metrics.")
    var disableExporterMetrics = false

    @Flag(name: .customLong("web.enable-admin"), inversion: .prefixedNo,
          help: "Offer POST /mark-dead/<pid> (loopback clients only unless --web.admin-token-file is set).")
    var enableAdmin = true

    @Option(name: .customLong("web.admin-token-file"),
            help: "File holding a bearer token that every admin request must send (Authorization: Bearer <token>).")
    var adminTokenFile: String?

    @Option(name: .customLong("web.config.file"),
            help: ArgumentHelp("TLS, client certificates, basic auth and response headers, in the YAML format of exporter-toolkit (the same file node_exporter takes).",
                               discussion: "Keys: tls_server_config, http_server_config.headers, basic_auth_users (bcrypt), rate_limit. The file and the certificate, key and CA files it names are checked every 3s and reloaded when changed; a broken edit keeps the running config. /healthz needs no credentials.",
                               valueName: "file"))
    var webConfigFile: String?

    @Option(name: .customLong("web.max-requests"), help: "Maximum /metrics requests in flight; more get 503.")
    var maxRequests = 40

    @Option(name: .customLong("web.gzip-level"), help: "gzip compression level, 1 (fastest) to 9 (smallest).")
    var gzipLevel = 1

    @Option(name: .customLong("web.connection-timeout"),
            help: "Time a connection may take to send a request or receive a reply, or stay idle (e.g. 30s).")
    var connectionTimeout = "30s"

    @Option(name: .customLong("scrape.min-interval"),
            help: "Reuse the last refresh and its rendered bodies for requests within this time of it (e.g. 500ms, 2s). Trades freshness for throughput; 0s (default) refreshes on every scrape.")
    var minInterval = "0s"

    @Flag(name: .customLong("compaction"),
          help: "Fold the files of dead pids (marked dead through mark-dead) into archive files, so the directory stays bounded. Rewrites the app's directory; see the README's Compaction section.")
    var compaction = false

    @Option(name: .customLong("compaction.delay"),
            help: "How long a dead pid's files must stay unchanged before they are folded (e.g. 1m, 30s).")
    var compactionDelay = "1m"

    @Option(name: .customLong("compaction.interval"), help: "Time between compaction passes (e.g. 10s).")
    var compactionInterval = "10s"

    @OptionGroup var compactionPass: CompactionPassOption

    @Flag(name: .customLong("auto-mark-dead"),
          help: ArgumentHelp("Find dead workers in /proc and mark them dead, for servers without a death hook (uWSGI, celery, multiprocessing).",
                             discussion: "Needs the app's processes visible: same host, or shareProcessNamespace: true in Kubernetes. See README, Auto mark-dead."))
    var autoMarkDead = false

    @Option(name: .customLong("auto-mark-dead.interval"),
            help: "With --auto-mark-dead: time between checks (e.g. 10s, 500ms). A pid is marked dead after two checks in a row find it dead.")
    var autoMarkDeadInterval = "10s"

    @Flag(name: .customLong("collector.workers"), inversion: .prefixedNo,
          help: ArgumentHelp("Serve the CPU, memory and file descriptors of the app's processes from /proc: per worker (multiproc_worker_*{pid}), for every worker that ever ran (multiproc_workers_cpu_seconds_total), and for their parents (multiproc_parent_*).",
                             discussion: "Needs the app's processes visible, as --auto-mark-dead does; where they are not, one warning is logged and nothing is served. See README, Workers' CPU and memory."))
    var collectWorkers = true

    @Option(name: .customLong("collector.workers.pss-interval"),
            help: "Time between two reads of a worker's proportional memory (smaps_rollup, in the background; costly for large processes); 0s turns multiproc_worker_proportional_memory_bytes off.")
    var workersProportionalInterval = "30s"

    @OptionGroup var directory: DirectoryOption

    @OptionGroup var textfiles: TextfileOption

    @Option(name: .customLong("log.level"), help: "Only log messages at this level or above: debug, info, warn, error.")
    var logLevel = "info"

    @Option(name: .customLong("log.format"), help: "Log line format: logfmt or json.")
    var logFormat = "logfmt"

    func validate() throws {
        guard LogLine.level(named: logLevel) != nil else { throw ValidationError("--log.level must be debug, info, warn or error") }
        guard LogFormat(rawValue: logFormat) != nil else { throw ValidationError("--log.format must be logfmt or json") }
    }

    func run() throws {
        let level = LogLine.level(named: logLevel)!
        let format = LogFormat(rawValue: logFormat)!
        LoggingSystem.bootstrap { _ in format.makeHandler(level: level) }
        let logger = Logger(label: "multiproc-exporter")

        do {
            let config = try configuration()
            let collector: DirectoryCollector
            var options = DirectoryCollector.Options()
            options.recordsDeadPids = config.compaction != nil
            try compactionPass.apply(to: &options)
            // The exporter's own metrics and the app's process metrics follow the merge in every
            // body: textfiles must leave their names.
            try textfiles.apply(to: &options, reserved: ExporterServer.ownMetricNames(config))
            do {
                collector = try DirectoryCollector(directory: config.directory, options: options)
            } catch {
                let dir = error.path ?? config.directory
                let which = dir == config.directory ? "metric" : "textfile"
                logger.error("cannot use \(which) directory", metadata: ["dir": "\(dir)", "err": "\(error)"])
                throw ExitCode(2)
            }
            // A compaction pass a crash interrupted is settled before anything is served.
            let recovery = collector.recoverCompaction()
            ExporterServer.log(recovery, logger: logger)
            guard recovery.errors.isEmpty else {
                logger.error("cannot settle an interrupted compaction pass; not serving numbers that could count samples twice")
                throw ExitCode(2)
            }
            let server = try ExporterServer(configuration: config, source: collector, logger: logger)
            try server.bind()
            var metadata: Logger.Metadata = ["dir": "\(config.directory)", "version": "\(config.version)", "revision": "\(config.revision)"]
            if let textfiles = options.textfileDirectory { metadata["textfile_dir"] = "\(textfiles)" }
            logger.info("serving", metadata: metadata)
            server.run()
        } catch let error as ConfigurationError {
            logger.error("\(error.description)")
            throw ExitCode(2)
        }
    }

    /// Flags → ``ExporterConfiguration``.
    private func configuration() throws(ConfigurationError) -> ExporterConfiguration {
        var config = ExporterConfiguration()
        config.listenAddress = try ListenAddress(parsing: listenAddress)
        config.telemetryPath = telemetryPath
        config.exporterMetricsEnabled = !disableExporterMetrics
        config.adminEnabled = enableAdmin
        if let adminTokenFile, enableAdmin { config.adminToken = try AdminToken.load(path: adminTokenFile) }
        config.maxRequests = maxRequests
        config.gzipLevel = gzipLevel
        config.limits.connectionTimeout = try DurationParser.seconds(connectionTimeout)
        config.minScrapeInterval = try DurationParser.seconds(minInterval)
        if compaction {
            config.compaction = CompactionSchedule(delay: try DurationParser.seconds(compactionDelay),
                                                   interval: try DurationParser.seconds(compactionInterval))
        }
        let proportionalInterval = try DurationParser.seconds(workersProportionalInterval)
        config.workers = collectWorkers ? WorkersCollection(proportionalMemoryInterval: proportionalInterval) : nil
        let interval = try DurationParser.seconds(autoMarkDeadInterval)
        if autoMarkDead { config.autoMarkDeadInterval = interval }
        guard let dir = directory.multiprocDir ?? environment("PROMETHEUS_MULTIPROC_DIR"), !dir.isEmpty else {
            throw ConfigurationError("no metric directory: pass --multiproc-dir or set PROMETHEUS_MULTIPROC_DIR")
        }
        config.directory = dir
        config.webConfigFile = webConfigFile
        config.handlesSignals = true
        try config.validate()
        return config
    }
}
