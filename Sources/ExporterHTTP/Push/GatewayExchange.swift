import CLibevent
import CLibeventOpenSSL
import COpenSSL
import Glibc

/// One HTTP request to the Pushgateway and its answer, over libevent's HTTP client (the
/// library the server is built on; its OpenSSL bufferevents for `https://`): a private event
/// base, run on the calling thread until the answer, a failure or the deadline. The host is
/// resolved here and its addresses tried in order, as Go's dialer does (libevent alone would
/// try only the first).
final class GatewayExchange {
    struct Request {
        var method: evhttp_cmd_type
        var url: GatewayURL
        var path: String
        var headers: [(String, String)]
        var body: [UInt8]
    }

    struct Response: Equatable {
        var status: Int
        var reason: String
        var body: [UInt8]
    }

    /// Why no answer came.
    enum Failure: Error, Equatable, CustomStringConvertible {
        /// Name resolution, connection refused or reset, closed before an answer: another
        /// attempt may succeed.
        case unreachable(String)
        /// No answer within the timeout.
        case timedOut(Double)
        /// The TLS handshake failed (a certificate that does not verify, a client certificate the
        /// gateway wants): another attempt would fail alike.
        case tls(String)

        var isRetryable: Bool {
            if case .tls = self { return false }
            return true
        }

        var description: String {
            switch self {
            case .unreachable(let why): why
            case .timedOut(let seconds): "no answer within \(seconds)s"
            case .tls(let why): "TLS: \(why)"
            }
        }
    }

    /// Sends `request`, trying each address of the gateway's host until one answers.
    static func perform(_ request: Request, timeout: Double, tls: ClientTLSContext?) -> Result<Response, Failure> {
        // OpenSSL writes to its socket with write(2), not send(MSG_NOSIGNAL) as libevent does:
        // a gateway that closes during the handshake would kill the process with SIGPIPE.
        if tls != nil { signal(SIGPIPE, SIG_IGN) }
        let addresses: [String]
        switch resolve(request.url.host, port: request.url.port) {
        case .success(let found): addresses = found
        case .failure(let failure): return .failure(failure)
        }
        var last = Failure.unreachable("\(request.url.host): no address")
        for address in addresses {
            let result = GatewayExchange(request: request, address: address, timeout: timeout, tls: tls).run()
            guard case .failure(let failure) = result, case .unreachable = failure else { return result }
            last = failure
        }
        return .failure(last)
    }

    // MARK: One address

    private let request: Request
    private let address: String
    private let timeout: Double
    private let tls: ClientTLSContext?
    private var base: OpaquePointer?
    private var connection: OpaquePointer?
    private var ssl: OpaquePointer?
    private var outcome: Result<Response, Failure>?

    private init(request: Request, address: String, timeout: Double, tls: ClientTLSContext?) {
        self.request = request
        self.address = address
        self.timeout = timeout
        self.tls = tls
    }

    private func run() -> Result<Response, Failure> {
        guard let base = event_base_new() else { return .failure(.unreachable("cannot create a libevent base")) }
        self.base = base
        defer {
            if let connection { evhttp_connection_free(connection) }  // frees the bufferevent and the SSL
            event_base_free(base)
        }
        let bufferevent: OpaquePointer?
        if let tls {
            guard let ssl = tls.connection(to: request.url.host) else { return .failure(.tls("cannot create a connection")) }
            self.ssl = ssl
            bufferevent = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                         Int32(BEV_OPT_CLOSE_ON_FREE.rawValue | BEV_OPT_DEFER_CALLBACKS.rawValue))
            if let bufferevent { bufferevent_openssl_set_allow_dirty_shutdown(bufferevent, 1) }
        } else {
            bufferevent = bufferevent_socket_new(base, -1, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue))
        }
        guard let bufferevent,
              let connection = evhttp_connection_base_bufferevent_new(base, nil, bufferevent, address, UInt16(request.url.port)) else {
            return .failure(.unreachable("cannot create a connection"))
        }
        self.connection = connection
        var perOperation = EventLoopServer.timeval(seconds: timeout)
        evhttp_connection_set_timeout_tv(connection, &perOperation)
        evhttp_connection_set_retries(connection, 0)
        evhttp_connection_set_max_body_size(connection, 1 << 20)

        // The exchange outlives every callback: they can only run inside the dispatch below.
        let context = Unmanaged.passUnretained(self).toOpaque()
        guard let httpRequest = evhttp_request_new(LibeventBridge.gatewayAnswered, context) else {
            return .failure(.unreachable("cannot create a request"))
        }
        evhttp_request_set_error_cb(httpRequest, LibeventBridge.gatewayFailed)
        let headers = evhttp_request_get_output_headers(httpRequest)
        for (name, value) in [("Host", request.url.hostHeader)] + request.headers { evhttp_add_header(headers, name, value) }
        request.body.withUnsafeBytes { _ = evbuffer_add(evhttp_request_get_output_buffer(httpRequest), $0.baseAddress, $0.count) }
        guard evhttp_make_request(connection, httpRequest, request.method, request.url.basePath + request.path) == 0 else {
            return .failure(.unreachable("cannot send the request"))
        }
        // The whole exchange, not only each read or write, ends at the deadline.
        var deadline = EventLoopServer.timeval(seconds: timeout)
        event_base_loopexit(base, &deadline)
        event_base_dispatch(base)
        return outcome ?? .failure(.timedOut(timeout))
    }

    /// The request's completion callback: `request` is nil (or has no status) when it failed,
    /// after ``failed(_:)`` said why.
    func answered(_ httpRequest: UnsafeMutablePointer<evhttp_request>?) {
        guard outcome == nil else { return }
        defer { if let base { event_base_loopbreak(base) } }
        guard let httpRequest, evhttp_request_get_response_code(httpRequest) > 0 else {
            outcome = .failure(connectionFailure(nil))
            return
        }
        let input = evhttp_request_get_input_buffer(httpRequest)
        var body = [UInt8](repeating: 0, count: evbuffer_get_length(input))
        body.withUnsafeMutableBytes { _ = evbuffer_copyout(input, $0.baseAddress, $0.count) }
        let reason = evhttp_request_get_response_code_line(httpRequest).map { String(cString: $0) } ?? ""
        outcome = .success(Response(status: Int(evhttp_request_get_response_code(httpRequest)), reason: reason, body: body))
    }

    /// The request's error callback (the completion callback follows it).
    func failed(_ error: evhttp_request_error) {
        guard outcome == nil else { return }
        outcome = .failure(connectionFailure(error))
        if let base { event_base_loopbreak(base) }
    }

    /// What went wrong, as precisely as libevent and OpenSSL tell.
    private func connectionFailure(_ error: evhttp_request_error?) -> Failure {
        let code = errno
        if error == EVREQ_HTTP_TIMEOUT { return .timedOut(timeout) }
        let bufferevent = connection.flatMap { evhttp_connection_get_bufferevent($0) }
        if let ssl, let tls {
            // OpenSSL records a verification failure even when told not to verify: ask only then.
            let verify = SSL_get_verify_result(ssl)
            if tls.verifiesPeer, verify != X509_V_OK { return .tls("the gateway's certificate does not verify: \(String(cString: X509_verify_cert_error_string(verify)))") }
            // libevent records a socket error under the TLS layer (refused, reset, closed) as
            // OpenSSL's SSL_ERROR_SYSCALL, a bare 5 with no library: that is the errno's case.
            if let bufferevent, case let openSSL = bufferevent_get_openssl_error(bufferevent), Self.isLibraryError(openSSL) {
                // Closed by the other end mid-handshake (a gateway restarting, a proxy): no verdict
                // on the certificate; another attempt may succeed.
                if openSSL & 0x7F_FFFF == UInt(SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                    return .unreachable("\(address):\(request.url.port): the connection closed during the TLS handshake")
                }
                return .tls(TLSContext.openSSLErrorText(openSSL))
            }
        }
        let target = "\(address):\(request.url.port)"
        switch error {
        case EVREQ_HTTP_INVALID_HEADER?: return .unreachable("\(target): not an HTTP answer")
        case EVREQ_HTTP_DATA_TOO_LONG?: return .unreachable("\(target): an answer larger than 1 MiB")
        default: break
        }
        // libevent's cleanup after a failed connect (a `shutdown` of the socket) leaves ENOTCONN
        // in errno: a connect of our own tells the real reason (refused, unreachable, …).
        let reason = code == ENOTCONN || code == 0 || code == EAGAIN ? Self.connectError(address, port: request.url.port, timeout: timeout) : code
        if let reason { return .unreachable("\(target): \(String(cString: strerror(reason)))") }
        return .unreachable("\(target): the connection closed before an answer")
    }

    /// Whether `code` (from `bufferevent_get_openssl_error`) is an error of the TLS library
    /// itself (a library in its top bits), not a system error (`ERR_SYSTEM_FLAG`) nor the bare
    /// `SSL_get_error` value libevent records when the socket failed.
    static func isLibraryError(_ code: UInt) -> Bool {
        code >= 1 << 23 && code & (1 << 31) == 0
    }

    /// Why a TCP connection to `address` fails now, or nil when it succeeds.
    private static func connectError(_ address: String, port: Int, timeout: Double) -> Int32? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(address, String(port), &hints, &list) == 0, let info = list else { return nil }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return nil }
        guard errno == EINPROGRESS else { return errno }
        var waiting = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&waiting, 1, Int32(min(timeout, 5) * 1000)) == 1 else { return ETIMEDOUT }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        return error == 0 ? nil : error
    }

    /// The addresses of `host` (numeric hosts as they are), in `getaddrinfo`'s order.
    private static func resolve(_ host: String, port: Int) -> Result<[String], Failure> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list else {
            return .failure(.unreachable("cannot resolve \(host): \(String(cString: gai_strerror(status)))"))
        }
        defer { freeaddrinfo(list) }
        var addresses: [String] = []
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let current = entry {
            var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(current.pointee.ai_addr, current.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 {
                let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !addresses.contains(address) { addresses.append(address) }
            }
            entry = current.pointee.ai_next
        }
        return .success(addresses)
    }
}
