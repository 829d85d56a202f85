/// The web config's rules in front of the routes, as exporter-toolkit's `webHandler` puts them
/// in front of an exporter's handler: rate limit (429), response headers, then basic auth (401
/// with `WWW-Authenticate: Basic`) on every request that ``needsCredentials`` says needs it,
/// each by the config as its files are when the request arrives (``LiveWebConfig``).
///
/// bcrypt never runs here (this runs on the loop): a check that is not cached goes to the
/// ``PasswordChecker``'s worker, and the routes are called back on the loop when it passed.
struct WebAccessGate: HTTPHandler {
    let routes: any HTTPHandler
    let live: LiveWebConfig
    let passwords: PasswordChecker
    /// False for requests that basic auth leaves alone (`/healthz`; see ``ExporterServer``).
    let needsCredentials: @Sendable (HTTPRequest) -> Bool

    func handle(_ request: HTTPRequest, reply: ReplyHandle) -> HTTPResponse? {
        // The config as its files are now: after an edit, the request waits for the reload.
        guard live.proceedsNow(orAfterReload: { [self] in
            if let response = handle(request, reply: reply) { reply.send(response) }
        }) else { return nil }
        let access = live.admit()
        let headers = access.headers
        guard access.admitted else { return Self.with(headers, .text(429, "Too Many Requests\n")) }
        let reply = reply.adding(headers)
        guard access.users.isEnabled, needsCredentials(request) else {
            return routes.handle(request, reply: reply).map { Self.with(headers, $0) }
        }
        let credentials = BasicAuthCredentials(header: request.headers["Authorization"])
        let routes = routes
        let decision = passwords.check(credentials, users: access.users) { passed in
            guard passed else { return reply.send(Self.unauthorized) }
            reply.onLoop {
                if let response = routes.handle(request, reply: reply) { reply.send(response) }
            }
        }
        switch decision {
        case .allowed: return routes.handle(request, reply: reply).map { Self.with(headers, $0) }
        case .denied: return Self.with(headers, Self.unauthorized)
        case .busy:
            return Self.with(headers, .text(503, "too many password checks in flight\n", headers: [("Retry-After", "1")]))
        case .checking: return nil
        }
    }

    /// Go's `http.Error(w, "Unauthorized", 401)` after `WWW-Authenticate: Basic`.
    static let unauthorized = HTTPResponse.text(401, "Unauthorized\n", headers: [
        ("WWW-Authenticate", "Basic"), ("X-Content-Type-Options", "nosniff"),
    ])

    private static func with(_ headers: [(String, String)], _ response: HTTPResponse) -> HTTPResponse {
        var response = response
        for (name, value) in headers { response.headers.add(name, value) }
        return response
    }
}
