import Logging
import MultiprocCollector

/// The routes of the exporter (see docs/design.md §5), as an ``HTTPHandler``.
///
/// Runs on the loop thread: every answer is either immediate and cheap (`/healthz`, `/`,
/// errors) or deferred to a worker (`/metrics`, mark-dead).
struct ExporterRoutes: HTTPHandler {
    let telemetryPath: String
    let landingPage: ResponseBody
    let coordinator: ScrapeCoordinator
    /// Nil when the admin endpoint is disabled.
    let markDead: MarkDeadEndpoint?

    static let readOnly = "GET, HEAD"
    static let markDeadPrefix = "/mark-dead/"

    func handle(_ request: HTTPRequest, reply: ReplyHandle) -> HTTPResponse? {
        let path = request.path
        if path == telemetryPath {
            guard request.method == .get || request.method == .head else { return Self.notAllowed(Self.readOnly) }
            return metrics(request, reply: reply)
        }
        if path == "/healthz" {
            guard request.method == .get || request.method == .head else { return Self.notAllowed(Self.readOnly) }
            return .text(200, "ok\n", headers: [("Cache-Control", "no-store")])
        }
        if path == "/" {
            guard request.method == .get || request.method == .head else { return Self.notAllowed(Self.readOnly) }
            return HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "text/html; charset=utf-8")]), body: landingPage)
        }
        if let markDead, path.hasPrefix(Self.markDeadPrefix) {
            guard request.method == .post else { return Self.notAllowed("POST") }
            return markDead.handle(request, pidText: path.dropFirst(Self.markDeadPrefix.count), reply: reply)
        }
        return .text(404, "not found\n")
    }

    private func metrics(_ request: HTTPRequest, reply: ReplyHandle) -> HTTPResponse? {
        let format = ExpositionFormat.negotiate(accept: request.headers["Accept"])
        let gzip = AcceptEncoding.allowsGzip(request.headers["Accept-Encoding"])
        @Sendable func response(_ body: ResponseBody) -> HTTPResponse {
            var headers = HTTPHeaders([("Content-Type", format.contentType), ("Vary", "Accept-Encoding")])
            if gzip { headers.add("Content-Encoding", "gzip") }
            return HTTPResponse(status: 200, headers: headers, body: body)
        }
        switch coordinator.scrape(format: format, gzip: gzip, completion: { reply.send(response($0)) }) {
        case .ready(let body): return response(body)
        case .queued: return nil
        case .rejected:
            return .text(503, "too many scrapes in flight; raise --web.max-requests or scrape less often\n",
                         headers: [("Retry-After", "1")])
        }
    }

    static func notAllowed(_ allow: String) -> HTTPResponse {
        .text(405, "method not allowed\n", headers: [("Allow", allow)])
    }
}
