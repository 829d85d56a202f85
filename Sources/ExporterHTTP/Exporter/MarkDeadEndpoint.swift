import Logging
import MultiprocCollector
import MultiprocSupport

/// `POST /mark-dead/<pid>`: checks access, validates the pid, and runs ``MarkDeadAction`` on a
/// worker. Every answer is JSON.
///
/// The pid is the only thing taken from the request, and only as an integer: the collector
/// builds the file names, so no request text ever reaches a path.
struct MarkDeadEndpoint: Sendable {
    let access: AdminAccess
    let action: MarkDeadAction
    let pool: WorkerPool
    var metrics: ExporterMetrics { action.metrics }
    var logger: Logger { action.logger }

    func handle(_ request: HTTPRequest, pidText: Substring, reply: ReplyHandle) -> HTTPResponse? {
        let peer = request.peer.map(\.description) ?? "unknown"
        switch access.decide(request) {
        case .allowed:
            break
        case .unauthorized:
            metrics.count(markDead: .unauthorized)
            logger.warning("mark-dead refused: missing or wrong bearer token", metadata: ["peer": "\(peer)"])
            return Self.json(401, error: "a valid Authorization: Bearer token is required",
                             headers: [("WWW-Authenticate", "Bearer")])
        case .forbidden:
            metrics.count(markDead: .forbidden)
            logger.warning("mark-dead refused: client is not on loopback", metadata: ["peer": "\(peer)"])
            return Self.json(403, error: "mark-dead is only allowed from loopback clients (or configure --web.admin-token-file)")
        }

        let pid: Int
        switch PidParser.parse(pidText) {
        case .success(let value): pid = value
        case .failure(let error):
            metrics.count(markDead: .invalidPid)
            return Self.json(400, error: error.message)
        }

        pool.submit { [action] in
            let response: HTTPResponse
            do {
                let removed = try action.markDead(pid: pid, origin: .request(peer: peer))
                var json = "{\"pid\":\(pid),\"removed\":["
                json += removed.map { JSONText.quoted($0, asciiOnly: false) }.joined(separator: ",")
                json += "]}\n"
                response = HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "application/json")]),
                                        body: ResponseBody(Array(json.utf8)))
            } catch {
                response = Self.json(500, error: "\(error)")
            }
            reply.send(response)
        }
        return nil
    }

    static func json(_ status: Int, error: String, headers: [(String, String)] = []) -> HTTPResponse {
        var h = HTTPHeaders([("Content-Type", "application/json")])
        for (name, value) in headers { h.add(name, value) }
        return HTTPResponse(status: status, headers: h, body: ResponseBody(Array("{\"error\":\(JSONText.quoted(error, asciiOnly: false))}\n".utf8)))
    }
}
