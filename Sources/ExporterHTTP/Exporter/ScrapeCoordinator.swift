import MultiprocCollector
import MultiprocSupport

/// Single-flight refreshes and a per-snapshot body cache between `/metrics` requests and the
/// ``MetricsSource``.
///
/// - A request that arrives while a refresh runs joins it instead of starting its own; the
///   first request after a refresh finished starts the next one, so output is never older than
///   the refresh the request waited for.
/// - Bodies are cached per (content type, gzip) for the current snapshot: requests coalesced
///   into one refresh render and compress once per variant.
/// - With a minimum interval (`--scrape.min-interval`, off by default) a request within that
///   time of the last completed refresh reuses that snapshot and its cached bodies: fresher
///   data is traded for throughput when many scrapers poll one exporter.
/// - At most `maxInFlight` requests wait at once; more are rejected (the route answers 503).
/// - After ``invalidate()`` returns (mark-dead removed files), no request is answered from a
///   refresh that started before it: a request that arrives while such a refresh runs waits for
///   the next one, and that refresh's snapshot, once complete, serves only the requests that
///   were already waiting for it and is never reused within the minimum interval. (A refresh
///   started between the removal and ``invalidate()`` counts as older: one refresh too many,
///   never a removed gauge served.)
///
/// Refreshing, rendering and gzip run on the ``WorkerPool``; completions are called there too
/// (or synchronously when a cached body can be served at once).
final class ScrapeCoordinator: Sendable {
    typealias Completion = @Sendable (ResponseBody) -> Void

    enum Admission {
        /// A cached body could be served at once.
        case ready(ResponseBody)
        /// The completion will be called from a worker.
        case queued
        /// Too many requests in flight.
        case rejected
    }

    private struct BodyKey: Hashable {
        var contentType: String
        var gzip: Bool
    }

    private struct Waiter {
        var format: ExpositionFormat
        var gzip: Bool
        var completion: Completion
    }

    /// The refresh on a worker, if any, and the invalidations that had happened when it began.
    private enum Refresh {
        case idle
        case running(startedAfter: Int)
    }

    // Invariants: `bodies` hold renderings made in `generation` (a completed refresh or an
    // invalidation starts the next one); `completedAt` is -infinity unless `result` comes
    // from a refresh that began after the last invalidation.
    private struct State {
        var refresh = Refresh.idle
        /// Requests waiting for the running refresh.
        var waiters: [Waiter] = []
        /// Requests that arrived after an invalidation the running refresh predates: they wait
        /// for the refresh after it.
        var waitersForNext: [Waiter] = []
        /// ``invalidate()`` calls so far.
        var invalidations = 0
        var generation = 0
        var result: ScrapeResult?
        var completedAt = -Double.infinity
        var bodies: [BodyKey: ResponseBody] = [:]
        var inFlight = 0
    }

    private let state = Locked(State())
    private let source: any MetricsSource
    /// The app's processes, read with every refresh (nil: `--no-collector.workers`).
    private let workers: WorkerScrape?
    private let pool: WorkerPool
    private let renderer: ScrapeRenderer
    private let minInterval: Double
    private let maxInFlight: Int
    private let onRefresh: @Sendable (Snapshot) -> Void

    /// - Parameter onRefresh: called once per completed refresh, on the worker, before any body
    ///   of it is rendered (logs and counts new problems).
    init(source: any MetricsSource, workers: WorkerScrape? = nil, pool: WorkerPool, renderer: ScrapeRenderer, minInterval: Double,
         maxInFlight: Int, onRefresh: @escaping @Sendable (Snapshot) -> Void) {
        self.source = source
        self.workers = workers
        self.pool = pool
        self.renderer = renderer
        self.minInterval = minInterval
        self.maxInFlight = maxInFlight
        self.onRefresh = onRefresh
    }

    /// Asks for a body in `format`; see ``Admission``.
    func scrape(format: ExpositionFormat, gzip: Bool, completion: @escaping Completion) -> Admission {
        let key = BodyKey(contentType: format.contentType, gzip: gzip)
        enum Next { case answer(ResponseBody), reject, wait, startRefresh, render(ScrapeResult, Int) }
        let next: Next = state.withLock { state in
            if minInterval > 0, let result = state.result, monotonicNow() - state.completedAt < minInterval {
                if let body = state.bodies[key] { return .answer(body) }
                guard state.inFlight < maxInFlight else { return .reject }
                state.inFlight += 1
                return .render(result, state.generation)
            }
            guard state.inFlight < maxInFlight else { return .reject }
            state.inFlight += 1
            let waiter = Waiter(format: format, gzip: gzip, completion: completion)
            switch state.refresh {
            case .running(let startedAfter) where startedAfter == state.invalidations:
                state.waiters.append(waiter)
            case .running:
                state.waitersForNext.append(waiter)
            case .idle:
                state.waiters.append(waiter)
                state.refresh = .running(startedAfter: state.invalidations)
                return .startRefresh
            }
            return .wait
        }
        switch next {
        case .answer(let body): return .ready(body)
        case .reject: return .rejected
        case .wait: return .queued
        case .startRefresh:
            pool.submit { self.refresh() }
            return .queued
        case .render(let result, let generation):
            pool.submit {
                let body = self.body(for: key, format: format, result: result, generation: generation)
                self.state.withLock { $0.inFlight -= 1 }
                completion(body)
            }
            return .queued
        }
    }

    /// Forgets the last snapshot's freshness and bodies (after mark-dead removed files): the next
    /// request refreshes, even within the minimum interval, and never joins a refresh that
    /// began before this call.
    func invalidate() {
        state.withLock { state in
            state.invalidations += 1
            state.generation += 1
            state.completedAt = -.infinity
            state.bodies = [:]
        }
    }

    // MARK: On a worker

    private func refresh() {
        let look = workers?.start()  // /proc, while the directory is read
        let snapshot = source.collect()
        onRefresh(snapshot)
        let result = ScrapeResult(snapshot: snapshot, workers: look?.lines() ?? [])
        enum Next { case finish, refreshAgain }
        let (waiters, generation, next) = state.withLock { state -> ([Waiter], Int, Next) in
            guard case .running(let startedAfter) = state.refresh else { preconditionFailure("no refresh was running") }
            let waiters = state.waiters
            state.generation += 1
            state.result = result
            state.bodies = [:]
            // An invalidation during this refresh makes its snapshot good only for the requests
            // that were waiting for it before.
            state.completedAt = startedAfter == state.invalidations ? monotonicNow() : -.infinity
            state.waiters = state.waitersForNext
            state.waitersForNext = []
            guard !state.waiters.isEmpty else {
                state.refresh = .idle
                return (waiters, state.generation, .finish)
            }
            state.refresh = .running(startedAfter: state.invalidations)
            return (waiters, state.generation, .refreshAgain)
        }
        if next == .refreshAgain { pool.submit { self.refresh() } }
        for waiter in waiters {
            let key = BodyKey(contentType: waiter.format.contentType, gzip: waiter.gzip)
            let body = self.body(for: key, format: waiter.format, result: result, generation: generation)
            state.withLock { $0.inFlight -= 1 }
            waiter.completion(body)
        }
    }

    /// The cached body of `generation` for `key`, rendered and cached if missing.
    private func body(for key: BodyKey, format: ExpositionFormat, result: ScrapeResult, generation: Int) -> ResponseBody {
        if let cached = state.withLock({ $0.generation == generation ? $0.bodies[key] : nil }) { return cached }
        let body = renderer.render(result, format: format, gzip: key.gzip)
        state.withLock { state in
            if state.generation == generation { state.bodies[key] = body }
        }
        return body
    }
}
