import CLibevent
import Glibc

/// `multiproc-exporter push` as a library call: one exposition body `PUT` to a Pushgateway's
/// group (`/metrics/job/<job>/<label>/<value>…`), as prometheus_client's `push_to_gateway` does
/// it (text format 0.0.4, its `Content-Type`, the same path escaping), with a bounded retry.
///
/// Retried, after 0.5 s, 1 s, 2 s, … (doubling, at most 8 s, ±20 % so that many batch jobs
/// ending together do not retry in step): what may pass by itself: the gateway unreachable
/// (name resolution, connection refused or reset, no answer within the timeout) and the
/// answers of a proxy in front of a restarting gateway (502, 503, 504). Never retried: any
/// other answer (a `400` for a push inconsistent with the gateway's other groups stays one) and
/// TLS failures (a certificate that does not verify stays so).
public struct Pusher: Sendable {
    public struct Settings: Sendable {
        public var gateway: GatewayURL
        public var grouping: GroupingKey
        public var client = GatewayClientConfig()
        /// Seconds one attempt may take (prometheus_client's default: 30).
        public var timeout: Double = 30
        /// Attempts after the first.
        public var retries = 3
        /// First pause between attempts, doubled each time up to ``maximumBackoff``.
        public var backoff: Double = 0.5
        public var maximumBackoff: Double = 8
        /// The `User-Agent` header.
        public var userAgent = "multiproc-exporter/\(ExporterVersion.current)"

        public init(gateway: GatewayURL, grouping: GroupingKey) {
            self.gateway = gateway
            self.grouping = grouping
        }
    }

    /// How a push ended.
    public enum Outcome: Sendable, Equatable {
        /// The gateway took it (2xx).
        case pushed(status: Int, attempts: Int)
        /// The gateway answered with an error: its status line and the message of its body.
        case refused(status: Int, reason: String, message: String, attempts: Int)
        /// No answer, after every attempt (or a TLS failure, at once): why, the last time.
        case unreachable(String, attempts: Int)
    }

    public let settings: Settings
    private let tls: ClientTLSContext?

    /// Builds the TLS context of an `https://` gateway now, so that a bad CA or key file is a
    /// configuration error before anything is read or sent.
    public init(_ settings: Settings) throws(ConfigurationError) {
        self.settings = settings
        tls = settings.gateway.tls ? try ClientTLSContext(settings.client.tls) : nil
    }

    /// The URL the push goes to.
    public var url: String { settings.gateway.description + settings.grouping.path }

    /// Pushes `body` (text format 0.0.4); `retrying` hears of each failed attempt before the
    /// pause that follows it.
    public func push(_ body: [UInt8], retrying: (_ attempt: Int, _ why: String, _ pause: Double) -> Void = { _, _, _ in }) -> Outcome {
        var headers = [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), ("User-Agent", settings.userAgent)]
        if let credentials = settings.client.credentials { headers.append(("Authorization", credentials.header)) }
        let request = GatewayExchange.Request(method: EVHTTP_REQ_PUT, url: settings.gateway, path: settings.grouping.path,
                                              headers: headers, body: body)
        var pause = settings.backoff
        for attempt in 1...(settings.retries + 1) {
            let why: String
            switch GatewayExchange.perform(request, timeout: settings.timeout, tls: tls) {
            case .success(let response) where (200..<300).contains(response.status):
                return .pushed(status: response.status, attempts: attempt)
            case .success(let response):
                let message = Self.message(response.body)
                guard [502, 503, 504].contains(response.status), attempt <= settings.retries else {
                    return .refused(status: response.status, reason: response.reason, message: message, attempts: attempt)
                }
                why = "\(response.status) \(response.reason)"
            case .failure(let failure):
                guard failure.isRetryable, attempt <= settings.retries else { return .unreachable(failure.description, attempts: attempt) }
                why = failure.description
            }
            let jittered = pause * Double.random(in: 0.8...1.2)
            retrying(attempt, why, jittered)
            usleep(useconds_t(jittered * 1_000_000))
            pause = min(pause * 2, settings.maximumBackoff)
        }
        preconditionFailure("the last attempt returns")
    }

    /// The gateway's message: its body as one line of printable text, at most 1,000 characters.
    static func message(_ body: [UInt8]) -> String {
        let text = String(decoding: body, as: UTF8.self)
        var line = String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.properties.generalCategory == .control ? " " : $0
        }))
        while line.hasSuffix(" ") { line.removeLast() }
        return line.count > 1000 ? String(line.prefix(1000)) + "…" : line
    }
}
