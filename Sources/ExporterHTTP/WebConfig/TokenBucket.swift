/// `rate_limit` as golang.org/x/time/rate's `Limiter.Allow()`: tokens accrue at one per interval
/// up to `burst`, the bucket starts full, each request takes one or is refused (429).
struct TokenBucket: Sendable {
    let limit: WebConfig.RateLimit
    private var tokens: Double
    private var updated: Double

    init(_ limit: WebConfig.RateLimit, now: Double) {
        self.limit = limit
        tokens = Double(limit.burst)
        updated = now
    }

    /// Takes a token if there is one.
    mutating func allow(now: Double) -> Bool {
        let elapsed = max(0, now - updated)
        tokens = min(Double(limit.burst), tokens + elapsed / limit.interval)
        updated = max(updated, now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
