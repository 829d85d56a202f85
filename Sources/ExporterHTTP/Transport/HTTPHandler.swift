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
    let mailbox: LoopMailbox?

    /// A handle whose replies go nowhere, for calling handlers in unit tests without a server.
    public static func detached(_ sink: @escaping @Sendable (HTTPResponse) -> Void) -> ReplyHandle {
        ReplyHandle(id: 0, mailbox: nil, sink: sink)
    }

    private let sink: (@Sendable (HTTPResponse) -> Void)?

    init(id: UInt64, mailbox: LoopMailbox) {
        self.id = id
        self.mailbox = mailbox
        self.sink = nil
    }

    private init(id: UInt64, mailbox: LoopMailbox?, sink: @escaping @Sendable (HTTPResponse) -> Void) {
        self.id = id
        self.mailbox = mailbox
        self.sink = sink
    }

    /// Queues `response`; a second call for the same request is ignored.
    public func send(_ response: HTTPResponse) {
        if let sink { sink(response); return }
        mailbox?.post(.reply(id, response))
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

    public init() {}
}
