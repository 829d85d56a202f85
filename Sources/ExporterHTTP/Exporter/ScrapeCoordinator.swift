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

    private struct State {
        var refreshing = false
        var waiters: [Waiter] = []
        var generation = 0
        var snapshot: Snapshot?
        var completedAt = -Double.infinity
        var bodies: [BodyKey: ResponseBody] = [:]
        var inFlight = 0
    }

    private let state = Locked(State())
    private let source: any MetricsSource
    private let pool: WorkerPool
    private let renderer: ScrapeRenderer
    private let minInterval: Double
    private let maxInFlight: Int
    private let onRefresh: @Sendable (Snapshot) -> Void

    /// - Parameter onRefresh: called once per completed refresh, on the worker, before any body
    ///   of it is rendered (logs and counts new problems).
    init(source: any MetricsSource, pool: WorkerPool, renderer: ScrapeRenderer, minInterval: Double,
         maxInFlight: Int, onRefresh: @escaping @Sendable (Snapshot) -> Void) {
        self.source = source
        self.pool = pool
        self.renderer = renderer
        self.minInterval = minInterval
        self.maxInFlight = maxInFlight
        self.onRefresh = onRefresh
    }

    /// Asks for a body in `format`; see ``Admission``.
    func scrape(format: ExpositionFormat, gzip: Bool, completion: @escaping Completion) -> Admission {
        let key = BodyKey(contentType: format.contentType, gzip: gzip)
        enum Next { case answer(ResponseBody), reject, wait, startRefresh, render(Snapshot, Int) }
        let next: Next = state.withLock { state in
            if minInterval > 0, let snapshot = state.snapshot, monotonicNow() - state.completedAt < minInterval {
                if let body = state.bodies[key] { return .answer(body) }
                guard state.inFlight < maxInFlight else { return .reject }
                state.inFlight += 1
                return .render(snapshot, state.generation)
            }
            guard state.inFlight < maxInFlight else { return .reject }
            state.inFlight += 1
            state.waiters.append(Waiter(format: format, gzip: gzip, completion: completion))
            if state.refreshing { return .wait }
            state.refreshing = true
            return .startRefresh
        }
        switch next {
        case .answer(let body): return .ready(body)
        case .reject: return .rejected
        case .wait: return .queued
        case .startRefresh:
            pool.submit { self.refresh() }
            return .queued
        case .render(let snapshot, let generation):
            pool.submit {
                let body = self.body(for: key, format: format, snapshot: snapshot, generation: generation)
                self.state.withLock { $0.inFlight -= 1 }
                completion(body)
            }
            return .queued
        }
    }

    /// Forgets the last snapshot's freshness (after mark-dead), so the next request refreshes
    /// even within the minimum interval.
    func invalidate() {
        state.withLock { state in
            state.completedAt = -.infinity
            state.bodies = [:]
        }
    }

    // MARK: On a worker

    private func refresh() {
        let snapshot = source.collect()
        onRefresh(snapshot)
        let (waiters, generation) = state.withLock { state in
            defer { state.waiters = [] }
            state.refreshing = false
            state.generation += 1
            state.snapshot = snapshot
            state.completedAt = monotonicNow()
            state.bodies = [:]
            return (state.waiters, state.generation)
        }
        for waiter in waiters {
            let key = BodyKey(contentType: waiter.format.contentType, gzip: waiter.gzip)
            let body = self.body(for: key, format: waiter.format, snapshot: snapshot, generation: generation)
            state.withLock { $0.inFlight -= 1 }
            waiter.completion(body)
        }
    }

    /// The cached body of `generation` for `key`, rendered and cached if missing.
    private func body(for key: BodyKey, format: ExpositionFormat, snapshot: Snapshot, generation: Int) -> ResponseBody {
        if let cached = state.withLock({ $0.generation == generation ? $0.bodies[key] : nil }) { return cached }
        let body = renderer.render(snapshot, format: format, gzip: key.gzip)
        state.withLock { state in
            if state.generation == generation && state.completedAt > -.infinity { state.bodies[key] = body }
        }
        return body
    }
}
