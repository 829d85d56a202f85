import CLibevent

/// Copies what the handler needs out of an `evhttp_request` into an ``HTTPRequest``.
enum RequestReader {
    /// Nil for a method the transport does not let through.
    static func read(_ request: UnsafeMutablePointer<evhttp_request>) -> HTTPRequest? {
        let command = evhttp_request_get_command(request)
        guard let method = HTTPMethod.allCases.first(where: { EventLoopServer.command($0) == command }) else { return nil }

        var path = ""
        if let uri = evhttp_request_get_evhttp_uri(request), let raw = evhttp_uri_get_path(uri) {
            path = String(cString: raw)
        }

        var headers = HTTPHeaders()
        if let list = evhttp_request_get_input_headers(request) {
            var field = list.pointee.tqh_first
            while let current = field {
                headers.add(String(cString: current.pointee.key), String(cString: current.pointee.value))
                field = current.pointee.next.tqe_next
            }
        }

        var peer: PeerAddress?
        if let connection = evhttp_request_get_connection(request), let address = evhttp_connection_get_addr(connection) {
            peer = PeerAddress(address)
        }

        var body: [UInt8] = []
        if let buffer = evhttp_request_get_input_buffer(request) {
            let length = evbuffer_get_length(buffer)
            if length > 0 {
                body = [UInt8](repeating: 0, count: length)
                _ = evbuffer_copyout(buffer, &body, length)
            }
        }
        return HTTPRequest(method: method, path: path, headers: headers, peer: peer, body: body)
    }
}
