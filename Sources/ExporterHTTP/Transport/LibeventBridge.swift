import CLibevent

// MARK: - Every C callback libevent calls, in one place
//
// Each trampoline receives the ``EventLoopServer`` as an unretained `void *arg` (the server
// outlives its event base) and forwards to a Swift method; nothing else in the module hands
// a function pointer to C.

enum LibeventBridge {
    static func context(_ server: EventLoopServer) -> UnsafeMutableRawPointer {
        Unmanaged.passUnretained(server).toOpaque()
    }

    private static func server(_ arg: UnsafeMutableRawPointer?) -> EventLoopServer {
        Unmanaged<EventLoopServer>.fromOpaque(arg!).takeUnretainedValue()
    }

    /// `evhttp_set_gencb`: every request that libevent parsed.
    static let request: @convention(c) (UnsafeMutablePointer<evhttp_request>?, UnsafeMutableRawPointer?) -> Void = { request, arg in
        guard let request else { return }
        server(arg).dispatch(request)
    }

    /// `evhttp_request_set_on_complete_cb`: the reply was written out completely.
    static let replyWritten: @convention(c) (UnsafeMutablePointer<evhttp_request>?, UnsafeMutableRawPointer?) -> Void = { request, arg in
        guard let request else { return }
        server(arg).replyWritten(request)
    }

    /// `evhttp_connection_set_closecb`: a connection is being freed (client gone, timeout, close).
    static let connectionClosed: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Void = { connection, arg in
        guard let connection else { return }
        server(arg).connectionClosed(connection)
    }

    /// Read event on the mailbox pipe: another thread queued replies or a shutdown.
    static let wake: @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void = { _, _, arg in
        server(arg).drainMailbox()
    }

    /// `SIGTERM`/`SIGINT` (delivered by libevent on the loop thread, so not async-signal code).
    static let signal: @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void = { signal, _, arg in
        server(arg).received(signal: signal)
    }

    /// Timer: the bounded wait for in-flight replies is over.
    static let drainTimeout: @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void = { _, _, arg in
        server(arg).drainTimedOut()
    }

    /// `evbuffer_add_reference` cleanup: libevent no longer needs a body's bytes.
    static let releaseBody: @convention(c) (UnsafeRawPointer?, Int, UnsafeMutableRawPointer?) -> Void = { _, _, box in
        guard let box else { return }
        Unmanaged<ResponseBody>.fromOpaque(box).release()
    }
}
