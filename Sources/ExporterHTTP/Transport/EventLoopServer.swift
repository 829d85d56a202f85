import Glibc
import CLibevent
import CLibeventOpenSSL
import Logging

/// The libevent transport: binds, runs the loop, turns `evhttp_request`s into ``HTTPRequest``s
/// for an ``HTTPHandler`` and writes the ``HTTPResponse``s back.
///
/// Threading: every libevent object and every stored property below except ``mailbox`` is
/// used only by the thread inside ``run()`` (and by the caller of ``bind(_:)`` before that).
/// Other threads reach the loop only through ``mailbox``. That invariant is why the class may
/// be `@unchecked Sendable`.
final class EventLoopServer: @unchecked Sendable {
    let mailbox: LoopMailbox
    private let handler: HTTPHandler
    private let limits: ServerLimits
    private let logger: Logger
    private let base: OpaquePointer
    private let http: OpaquePointer
    private var listeners: [OpaquePointer] = []
    private var events: [OpaquePointer] = []
    /// Requests handed to the handler and not answered yet.
    private var pending: [UInt64: UnsafeMutablePointer<evhttp_request>] = [:]
    /// Connections with a reply handed to libevent whose last byte is not written yet. Left
    /// when the reply completes or the connection closes (a client that went away makes the
    /// write fail, and libevent then frees the request without calling its completion).
    private var writing = Set<OpaquePointer>()
    private let sendfileCache = SendfileCache()
    private var nextID: UInt64 = 0
    private var draining = false
    /// libevent's objects were freed (``release()``).
    private var released = false
    /// When set, every connection is TLS, with the context this returns at accept time.
    private let tlsContext: (@Sendable () -> TLSContext?)?
    private var periodicTask: (() -> Void)?
    private var fileWatchTask: (() -> Void)?

    /// - Parameter tls: makes the listener TLS-only; called for each new connection.
    init(handler: HTTPHandler, limits: ServerLimits, logger: Logger,
         tls: (@Sendable () -> TLSContext?)? = nil) throws(ConfigurationError) {
        // Each failure frees what was made before it (deinit runs only for a complete server).
        let mailbox = try LoopMailbox()
        guard let base = event_base_new() else {
            mailbox.close()
            throw ConfigurationError("event_base_new failed")
        }
        // Two priorities: ``watch(readable:_:)`` (the web config's files) runs before anything
        // else that is ready at the same time, so that an edit made before a connection arrived
        // is seen before that connection is accepted. Everything else gets libevent's default,
        // the lower one. Must precede every event.
        event_base_priority_init(base, 2)
        guard let http = evhttp_new(base) else {
            event_base_free(base)
            mailbox.close()
            throw ConfigurationError("evhttp_new failed")
        }
        self.mailbox = mailbox
        self.base = base
        self.http = http
        self.handler = handler
        self.limits = limits
        self.logger = logger
        self.tlsContext = tls

        evhttp_set_max_headers_size(http, limits.maxHeaderBytes)
        evhttp_set_max_body_size(http, limits.maxBodyBytes)
        var timeout = Self.timeval(seconds: limits.connectionTimeout)
        evhttp_set_timeout_tv(http, &timeout)
        // Let every method reach the handler so that it can answer 405 with an `Allow` header.
        let all = HTTPMethod.allCases.reduce(UInt16(0)) { $0 | UInt16(Self.command($1).rawValue) }
        evhttp_set_allowed_methods(http, all)
        evhttp_set_gencb(http, LibeventBridge.request, LibeventBridge.context(self))
        if tls != nil {
            evhttp_set_bevcb(http, LibeventBridge.connectionBufferevent, LibeventBridge.context(self))
            // OpenSSL writes to its socket with write(2), not send(MSG_NOSIGNAL) as libevent
            // does: a client that left before its reply would kill the process with SIGPIPE.
            signal(SIGPIPE, SIG_IGN)
        }

        let wake = event_new(base, mailbox.readFD, Int16(EV_READ | EV_PERSIST), LibeventBridge.wake, LibeventBridge.context(self))!
        event_add(wake, nil)
        events.append(wake)
    }

    // MARK: Lifecycle

    /// Binds one listening socket; returns the address actually bound (port 0 resolved).
    func bind(_ address: ListenAddress) throws(ConfigurationError) -> PeerAddress {
        // Every interface: try dual-stack IPv6 first, IPv4 where IPv6 is off.
        let hosts = address.host.map { [$0] } ?? ["::", "0.0.0.0"]
        for host in hosts {
            guard let handle = evhttp_bind_socket_with_handle(http, host, UInt16(address.port)) else { continue }
            listeners.append(handle)
            if let bound = PeerAddress.local(of: evhttp_bound_socket_get_fd(handle)) { return bound }
            return PeerAddress(host: host, port: address.port, isLoopback: false)
        }
        throw ConfigurationError("cannot listen on \(address): \(String(cString: strerror(errno)))")
    }

    /// Makes SIGTERM and SIGINT start a graceful shutdown (the CLI wants this; tests do not).
    func handleSignals() {
        // A parent may have spawned us with these blocked (the mask is inherited); blocked,
        // they would stay pending forever.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for number in [SIGTERM, SIGINT] {
            let event = event_new(base, number, Int16(EV_SIGNAL | EV_PERSIST), LibeventBridge.signal, LibeventBridge.context(self))!
            event_add(event, nil)
            events.append(event)
        }
    }

    /// Runs `task` on the loop thread every `seconds` until shutdown (one task per server).
    func schedule(every seconds: Double, _ task: @escaping () -> Void) {
        precondition(periodicTask == nil, "one periodic task per server")
        periodicTask = task
        let timer = event_new(base, -1, Int16(EV_PERSIST), LibeventBridge.periodicTask, LibeventBridge.context(self))!
        var tv = Self.timeval(seconds: seconds)
        event_add(timer, &tv)
        events.append(timer)
    }

    /// Runs `task` on the loop thread whenever `fd` is readable (one watch per server), before
    /// any other event that is ready at the same time: the task may stop new connections with
    /// ``setAccepting(_:)`` before one is accepted.
    func watch(readable fd: Int32, _ task: @escaping () -> Void) {
        precondition(fileWatchTask == nil, "one file watch per server")
        fileWatchTask = task
        let event = event_new(base, fd, Int16(EV_READ | EV_PERSIST), LibeventBridge.fileWatch, LibeventBridge.context(self))!
        event_priority_set(event, 0)
        event_add(event, nil)
        events.append(event)
    }

    /// Loop thread: stops (false) or resumes (true) accepting connections; those that arrive
    /// meanwhile wait in the kernel's listen backlog. Nothing to do once shutting down.
    func setAccepting(_ accepting: Bool) {
        for bound in listeners {
            guard let listener = evhttp_bound_socket_get_listener(bound) else { continue }
            _ = accepting ? evconnlistener_enable(listener) : evconnlistener_disable(listener)
        }
    }

    /// Runs the loop until a shutdown has finished, then frees everything libevent owns.
    func run() {
        event_base_dispatch(base)
        release()
    }

    /// A server that never ran (its owner failed to start) still owns its base, sockets and pipe.
    deinit { release() }

    /// Frees the mailbox pipe, the events, the bound sockets and connections (with
    /// `evhttp_free`) and the event base; later calls do nothing.
    private func release() {
        guard !released else { return }
        released = true
        mailbox.close()
        for event in events { event_free(event) }
        events = []
        listeners = []
        pending = [:]  // evhttp_free frees them with their connections
        evhttp_free(http)
        event_base_free(base)
    }

    /// Stops accepting, waits (bounded) for in-flight replies, then ends ``run()``.
    func beginShutdown(reason: String) {
        guard !draining else { return }
        draining = true
        for listener in listeners { evhttp_del_accept_socket(http, listener) }
        listeners = []
        logger.info("shutting down", metadata: ["reason": "\(reason)", "in_flight": "\(pending.count + writing.count)"])
        if let timer = event_new(base, -1, 0, LibeventBridge.drainTimeout, LibeventBridge.context(self)) {
            var tv = Self.timeval(seconds: limits.shutdownTimeout)
            event_add(timer, &tv)
            events.append(timer)
        }
        exitIfDrained()
    }

    private func exitIfDrained() {
        if draining && pending.isEmpty && writing.isEmpty { event_base_loopexit(base, nil) }
    }

    // MARK: Called by LibeventBridge on the loop thread

    func received(signal: Int32) {
        if draining {
            logger.warning("second signal: exiting without waiting for in-flight replies")
            event_base_loopbreak(base)
            return
        }
        beginShutdown(reason: signal == SIGTERM ? "SIGTERM" : "SIGINT")
    }

    func drainTimedOut() {
        logger.warning("shutdown timeout: abandoning in-flight replies", metadata: ["in_flight": "\(pending.count + writing.count)"])
        event_base_loopbreak(base)
    }

    func drainMailbox() {
        for message in mailbox.take() {
            switch message {
            case .shutdown:
                beginShutdown(reason: "requested")
            case .perform(let task):
                task()
            case .reply(let id, let response):
                guard let request = pending.removeValue(forKey: id) else { continue }
                send(response, to: request)
            }
        }
        exitIfDrained()
    }

    func runPeriodicTask() {
        if !draining { periodicTask?() }
    }

    func runFileWatchTask() {
        fileWatchTask?()
    }

    /// A new connection's OpenSSL bufferevent (only called when TLS is on). The handshake runs
    /// inside libevent, non-blocking, as data arrives: a slow client holds up nobody else.
    func newBufferevent(_ base: OpaquePointer) -> OpaquePointer? {
        // Returning nil would make libevent fall back to a plain socket: plain HTTP on the TLS
        // port. Both failures below are out-of-memory, where stopping is the safe answer.
        guard let context = tlsContext?(), let ssl = context.newConnection() else {
            fatalError("cannot create a TLS connection (out of memory); refusing to fall back to plain HTTP")
        }
        guard let bufferevent = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                               Int32(BEV_OPT_CLOSE_ON_FREE.rawValue)) else {
            fatalError("cannot create a TLS bufferevent (out of memory); refusing to fall back to plain HTTP")
        }
        // Clients that close without a TLS close_notify (most do) end the connection like an EOF.
        bufferevent_openssl_set_allow_dirty_shutdown(bufferevent, 1)
        return bufferevent
    }

    func replyWritten(_ request: UnsafeMutablePointer<evhttp_request>) {
        if let connection = evhttp_request_get_connection(request) { writing.remove(connection) }
        exitIfDrained()
    }

    func connectionClosed(_ connection: OpaquePointer) {
        writing.remove(connection)
        exitIfDrained()
    }

    func dispatch(_ request: UnsafeMutablePointer<evhttp_request>) {
        if draining {
            send(.text(503, "shutting down\n"), to: request)
            return
        }
        guard let incoming = RequestReader.read(request) else {
            send(.text(405, "method not allowed\n"), to: request)
            return
        }
        nextID &+= 1
        let id = nextID
        if let response = handler.handle(incoming, reply: ReplyHandle(id: id, mailbox: mailbox)) {
            send(response, to: request)
        } else {
            pending[id] = request
        }
    }

    // MARK: Writing a reply

    private func send(_ response: HTTPResponse, to request: UnsafeMutablePointer<evhttp_request>) {
        let headers = evhttp_request_get_output_headers(request)
        for (name, value) in response.headers { evhttp_add_header(headers, name, value) }
        // Set explicitly: libevent omits Content-Length for HEAD, where it must announce the GET body.
        evhttp_add_header(headers, "Content-Length", String(response.body.count))
        if draining { evhttp_add_header(headers, "Connection", "close") }
        let isHead = evhttp_request_get_command(request) == EVHTTP_REQ_HEAD
        let connection = evhttp_request_get_connection(request)
        var fileSegment: OpaquePointer?
        if response.body.count > 0 && !isHead {
            let body = response.body
            // sendfile(2) bypasses TLS: file segments only on plain connections.
            if connection != nil, tlsContext == nil, let segment = sendfileCache.segment(for: body) {
                fileSegment = segment
            } else {
                let box = Unmanaged.passRetained(body).toOpaque()
                evbuffer_add_reference(evhttp_request_get_output_buffer(request), body.bytes.baseAddress, body.count,
                                       LibeventBridge.releaseBody, box)
            }
        }
        // Without a connection (client gone) libevent frees the request at once: nothing to wait for.
        if let connection {
            Self.tuneForReplies(connection)
            writing.insert(connection)
            evhttp_request_set_on_complete_cb(request, LibeventBridge.replyWritten, LibeventBridge.context(self))
            evhttp_connection_set_closecb(connection, LibeventBridge.connectionClosed, LibeventBridge.context(self))
        }
        if logger.logLevel <= .debug {
            let uri = evhttp_request_get_uri(request).map { String(cString: $0) } ?? ""
            logger.debug("reply", metadata: ["uri": "\(uri)", "status": "\(response.status)", "bytes": "\(response.body.count)"])
        }
        if let fileSegment, let connection, let bufferevent = evhttp_connection_get_bufferevent(connection) {
            // Headers (Content-Length set above, so not chunked), then the body straight into
            // the socket's buffer, where libevent sends it with sendfile(2).
            evhttp_send_reply_start(request, Int32(response.status), HTTPResponse.reason(response.status))
            evbuffer_add_file_segment(bufferevent_get_output(bufferevent), fileSegment, 0, Int64(response.body.count))
            evhttp_send_reply_end(request)
        } else {
            evhttp_send_reply(request, Int32(response.status), HTTPResponse.reason(response.status), nil)
        }
    }

    // MARK: Helpers

    /// Replies are written whole and at once. libevent writes at most 16 KiB per `write`
    /// by default, and Nagle's algorithm then holds a reply's last partial segment until the
    /// client acknowledges the previous one — which a keep-alive client (Prometheus) delays
    /// by up to 40 ms. So: no Nagle, and one large write per reply where the socket takes it.
    static func tuneForReplies(_ connection: OpaquePointer) {
        guard let bufferevent = evhttp_connection_get_bufferevent(connection) else { return }
        bufferevent_set_max_single_write(bufferevent, 1 << 22)
        let fd = bufferevent_getfd(bufferevent)
        guard fd >= 0 else { return }
        var on: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
    }

    static func command(_ method: HTTPMethod) -> evhttp_cmd_type {
        switch method {
        case .get: EVHTTP_REQ_GET
        case .head: EVHTTP_REQ_HEAD
        case .post: EVHTTP_REQ_POST
        case .put: EVHTTP_REQ_PUT
        case .delete: EVHTTP_REQ_DELETE
        case .options: EVHTTP_REQ_OPTIONS
        case .trace: EVHTTP_REQ_TRACE
        case .connect: EVHTTP_REQ_CONNECT
        case .patch: EVHTTP_REQ_PATCH
        }
    }

    static func timeval(seconds: Double) -> timeval {
        let whole = seconds.rounded(.down)
        return Glibc.timeval(tv_sec: Int(whole), tv_usec: Int((seconds - whole) * 1_000_000))
    }
}
