/// What the transport calls for every well-formed request. Malformed requests (bad request
/// line, oversized headers or body) are answered by libevent and never reach the handler.
public protocol HTTPHandler: Sendable {
    /// Called on the event-loop thread; must not block.
    ///
    /// Return a response to answer at once, or return nil and later call
    /// ``ReplyHandle/send(_:)`` exactly once, from any thread.
    func handle(_ request: HTTPRequest, reply: ReplyHandle) -> HTTPResponse?
}

/// Sends the answer to one deferred request from any thread: the response is queued for the
/// loop thread, which wakes up and writes it.
public struct ReplyHandle: Sendable {
    let id: UInt64
    let mailbox: LoopMailbox
    /// Added to the response on ``send(_:)`` (the web config's `http_server_config.headers`).
    var extraHeaders: [(String, String)] = []

    /// Queues `response`; a second call for the same request is ignored.
    public func send(_ response: HTTPResponse) {
        var response = response
        for (name, value) in extraHeaders { response.headers.add(name, value) }
        mailbox.post(.reply(id, response))
    }

    /// The same handle, adding `headers` to whatever response is sent through it.
    func adding(_ headers: [(String, String)]) -> ReplyHandle {
        var copy = self
        copy.extraHeaders += headers
        return copy
    }

    /// Runs `task` on the loop thread (for a handler that must be called there again).
    func onLoop(_ task: @escaping @Sendable () -> Void) {
        mailbox.post(.perform(task))
    }
}

/// Limits the transport enforces itself.
public struct ServerLimits: Sendable, Equatable {
    /// Largest request head (request line + headers) accepted; larger ones get an error from libevent.
    public var maxHeaderBytes = 8192
    /// Largest request body accepted (no route takes a body).
    public var maxBodyBytes = 4096
    /// Seconds a connection may take to send a request or accept a reply, and may sit idle.
    public var connectionTimeout: Double = 30
    /// Seconds to wait for in-flight replies after SIGTERM/SIGINT or ``ExporterServer/shutdown()``.
    public var shutdownTimeout: Double = 10

    /// The defaults: 8 KiB of headers, 4 KiB of body, 30 s per connection, 10 s to drain.
    public init() {}
}
