import Logging
import MultiprocCollector
import MultiprocSupport

/// `multiproc-exporter serve` as a library: routes, limits, admin access, single-flight
/// refreshes on worker threads, all on one libevent loop.
///
/// ```swift
/// let server = try ExporterServer(configuration: config, source: collector, logger: logger)
/// let address = try server.bind()   // logs `listening address=…`
/// server.run()                      // until SIGTERM/SIGINT (if handled) or shutdown()
/// ```
public final class ExporterServer: Sendable {
    /// The configuration the server was built with.
    public let configuration: ExporterConfiguration
    private let loop: EventLoopServer
    private let pool: WorkerPool
    private let metrics: ExporterMetrics
    private let logger: Logger
    /// Background passes (compaction, auto mark-dead); stopped when ``run()`` returns.
    private let maintenance: PeriodicJobs
    private let autoMarkDead: AutoMarkDeadJob?
    private let workers: WorkerScrape?
    /// Reads of the workers' proportional memory, on a thread of their own.
    private let proportionalMemory: PeriodicJobs?

    /// Prepares the server; nothing is bound yet.
    public init(configuration: ExporterConfiguration, source: any MetricsSource, logger: Logger) throws(ConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        // The web config first: its problems are start-up errors (exit 2), before anything runs.
        let webConfig = try configuration.webConfigFile.map { path throws(ConfigurationError) in
            (path, try WebConfigLoader.load(path: path))
        }
        let metrics = ExporterMetrics(version: configuration.version, revision: configuration.revision,
                                      compaction: configuration.compaction != nil, webConfigEnabled: webConfig != nil)
        self.metrics = metrics
        let pool = WorkerPool(threads: configuration.workerThreads, name: "exporter-worker")
        self.pool = pool

        let renderer = ScrapeRenderer(metrics: configuration.exporterMetricsEnabled ? metrics : nil,
                                      gzipLevel: Int32(configuration.gzipLevel))
        // One log of reported problems for this server: each is logged and counted once.
        let problemLog = Locked(ProblemLog())
        let workers = configuration.workers.map { workers in
            WorkerScrape(collector: WorkerCollector(directory: configuration.directory, processes: ProcessTable(root: workers.processRoot)),
                         metrics: metrics.workers, logger: logger)
        }
        self.workers = workers
        let coordinator = ScrapeCoordinator(
            source: source, workers: workers, pool: pool, renderer: renderer, minInterval: configuration.minScrapeInterval,
            maxInFlight: configuration.maxRequests,
            onRefresh: { snapshot in
                let (newProblems, newTextfileProblems) = problemLog.withLock { ($0.newProblems(in: snapshot), $0.newTextfileProblems(in: snapshot)) }
                Self.report(snapshot, newProblems: newProblems, metrics: metrics, logger: logger)
                Self.report(newTextfileProblems, metrics: metrics, logger: logger)
            })
        let action = MarkDeadAction(source: source, metrics: metrics, coordinator: coordinator, logger: logger)
        var markDead: MarkDeadEndpoint?
        if configuration.adminEnabled {
            markDead = MarkDeadEndpoint(
                access: AdminAccess(token: configuration.adminToken, trustsPeer: configuration.trustsAdminPeer),
                action: action, pool: pool)
        }
        if configuration.autoMarkDeadInterval != nil {
            autoMarkDead = AutoMarkDeadJob(finder: DeadWorkerFinder(directory: configuration.directory), source: source,
                                        action: action, logger: logger)
        } else {
            autoMarkDead = nil
        }
        let page = LandingPage.html(version: configuration.version, directory: configuration.directory,
                                    telemetryPath: configuration.telemetryPath, adminEnabled: configuration.adminEnabled)
        let routes = ExporterRoutes(telemetryPath: configuration.telemetryPath, landingPage: ResponseBody(Array(page.utf8)),
                                    coordinator: coordinator, markDead: markDead)
        var handler: any HTTPHandler = routes
        var tls: (@Sendable () -> TLSContext?)?
        var live: LiveWebConfig?
        if let (path, loaded) = webConfig {
            let web = LiveWebConfig(path: path, initial: loaded, pool: pool, metrics: metrics, logger: logger)
            handler = WebAccessGate(routes: routes, live: web, passwords: PasswordChecker(pool: pool),
                                    needsCredentials: Self.needsCredentials(configuration))
            if loaded.tls != nil { tls = { @Sendable in web.contextForNewConnection() } }
            live = web
        }
        do {
            loop = try EventLoopServer(handler: handler, limits: configuration.limits, logger: logger, tls: tls)
        } catch {
            pool.stop()  // its threads would otherwise outlive the server that failed to start
            workers?.stop()
            throw error
        }
        if let live, let (path, loaded) = webConfig {
            // Weak: the loop holds the config's watch, the config must not hold the loop.
            live.attach(LiveWebConfig.Loop(perform: { [weak loop] task in loop?.mailbox.post(.perform(task)) },
                                           setAccepting: { [weak loop] accepting in loop?.setAccepting(accepting) }),
                        watchWith: loop)
            // Also without requests: a broken edit is logged, and a good one counted, soon after it.
            loop.schedule(every: configuration.webConfigReloadInterval) { live.filesMayHaveChanged() }
            logger.info("web config loaded", metadata: [
                "file": "\(path)", "tls": "\(loaded.tls != nil)", "basic_auth_users": "\(loaded.config.users.count)",
                "headers": "\(loaded.config.headers.count)", "rate_limit": "\(loaded.config.rateLimit != nil)",
            ])
        }
        if configuration.handlesSignals { loop.handleSignals() }
        var jobs = configuration.compaction.map { schedule in
            [PeriodicJobs.Job(name: "compaction", interval: schedule.interval) {
                let report = source.compact(delay: schedule.delay)
                metrics.compaction?.count(report)
                Self.log(report, logger: logger)
                // Files left the merge: the next scrape must not reuse a snapshot from before.
                if report.filesFolded > 0 || !report.pidsRevived.isEmpty { coordinator.invalidate() }
            }]
        } ?? []
        if let autoMarkDead, let interval = configuration.autoMarkDeadInterval {
            jobs.append(PeriodicJobs.Job(name: "auto-mark-dead", interval: interval) { autoMarkDead.check() })
        }
        maintenance = PeriodicJobs(jobs)
        if let workers, let interval = configuration.workers?.proportionalMemoryInterval, interval > 0 {
            // smaps_rollup walks a process's page tables, and waits for its memory lock: never on
            // the scrape path, nor on the maintenance thread (a stuck process would stop
            // compaction). Every second, the processes whose value is missing or `interval` old.
            proportionalMemory = PeriodicJobs([PeriodicJobs.Job(name: "workers-pss", interval: min(1, interval)) {
                workers.collector.refreshProportionalMemory(olderThan: interval)
            }])
        } else {
            proportionalMemory = nil
        }
    }

    /// Which requests basic auth applies to: all but `/healthz` (probes carry no secrets) and,
    /// with a token file, mark-dead: HTTP carries one `Authorization` header, and that route's
    /// own bearer token (a stronger, route-specific secret) takes it.
    private static func needsCredentials(_ configuration: ExporterConfiguration) -> @Sendable (HTTPRequest) -> Bool {
        let tokenGuardsMarkDead = configuration.adminEnabled && configuration.adminToken != nil
        return { request in
            request.path != "/healthz" && !(tokenGuardsMarkDead && request.path.hasPrefix(ExporterRoutes.markDeadPrefix))
        }
    }

    /// Binds ``ExporterConfiguration/listenAddress`` and logs the address actually bound
    /// (port 0 becomes a free port). Call before ``run()``, on the thread that will run it.
    @discardableResult
    public func bind() throws(ConfigurationError) -> PeerAddress {
        let address = try loop.bind(configuration.listenAddress)
        logger.info("listening", metadata: ["address": "\(address)"])
        return address
    }

    /// Serves until a shutdown finished: stop accepting, answer what is in flight (bounded by
    /// ``ServerLimits/shutdownTimeout``), return.
    public func run() {
        if let autoMarkDead { pool.submit { autoMarkDead.check() } }  // at once: visibility is reported at start
        loop.run()
        maintenance.stop()
        proportionalMemory?.stop(waiting: false)  // a read of a stuck process's smaps_rollup must not hold up the exit
        pool.stop()
        workers?.stop()
        logger.info("stopped")
    }

    /// Starts a graceful shutdown from any thread; ``run()`` returns when it is done.
    public func shutdown() {
        loop.mailbox.post(.shutdown)
    }

    /// Logs what a compaction pass did, when it did anything.
    public static func log(_ report: CompactionReport, logger: Logger) {
        if let recovered = report.recovered {
            logger.warning("compaction: settled an interrupted pass", metadata: ["outcome": "\(recovered.rawValue)"])
        }
        for error in report.errors { logger.error("compaction failed", metadata: ["err": "\(error)"]) }
        for wipe in report.passesWiped {
            logger.warning("compaction: the directory was wiped under a pass", metadata: ["detail": "\(wipe)"])
        }
        if !report.pidsRevived.isEmpty {
            logger.info("compaction: pids marked dead write again (reused): read normally",
                        metadata: ["pids": "\(report.pidsRevived.joined(separator: ","))"])
        }
        if report.filesFolded > 0 {
            logger.info("compaction: folded dead pids into archives", metadata: [
                "pids": "\(report.pidsFolded.count)", "files": "\(report.filesFolded)", "bytes": "\(report.bytesFolded)",
                "deferred_pids": "\(report.pidsDeferred)", "held_bytes": "\(report.heldBytes)", "duration_seconds": "\(report.duration)",
            ])
        }
    }

    /// The names the server's own metrics take with `configuration`, which textfiles must leave
    /// to it (``TextfileCollector/Options/reservedFamilies``, ``TextfileCollector/Options/reservedPrefix``):
    /// the `process_*` families and every `multiproc_exporter_*` name unless
    /// `--web.disable-exporter-metrics`, and the workers collector's families while it is on.
    public static func ownMetricNames(_ configuration: ExporterConfiguration) -> (families: [MetricFamily], prefix: String?) {
        let workers = configuration.workers != nil ? WorkerFamilies.all : []
        guard configuration.exporterMetricsEnabled else { return (workers, nil) }
        return (ProcessMetrics.families() + workers, "multiproc_exporter_")
    }

    /// Logs and counts the textfile problems first seen by this refresh.
    private static func report(_ newProblems: [TextfileProblem], metrics: ExporterMetrics, logger: Logger) {
        metrics.textfiles.count(newProblems)
        for problem in newProblems {
            var metadata: Logger.Metadata = ["file": "\(problem.file)", "reason": "\(problem.reason.rawValue)", "detail": "\(problem.detail)"]
            if let family = problem.family { metadata["family"] = "\(family)" }
            logger.warning(problem.reason.isFileLevel ? "textfile left out" : "textfile family left out", metadata: metadata)
        }
    }

    /// Logs and counts the problems first seen by this refresh.
    private static func report(_ snapshot: Snapshot, newProblems: [FileProblem], metrics: ExporterMetrics, logger: Logger) {
        metrics.count(problems: newProblems)
        for problem in newProblems {
            if problem.reason == .directoryUnreadable {
                logger.error("metric directory unreadable; serving exporter metrics only",
                             metadata: ["reason": "\(problem.reason.rawValue)", "detail": "\(problem.detail)"])
            } else {
                logger.warning("metric file problem", metadata: [
                    "file": "\(problem.file)", "reason": "\(problem.reason.rawValue)", "detail": "\(problem.detail)",
                ])
            }
        }
        let s = snapshot.statistics
        logger.debug("refreshed", metadata: [
            "duration_seconds": "\(s.duration)", "files_read": "\(s.filesRead)", "files_parsed": "\(s.filesParsed)",
            "plan_rebuilt": "\(s.planRebuilt)", "problems": "\(snapshot.problems.count)",
        ])
    }
}
