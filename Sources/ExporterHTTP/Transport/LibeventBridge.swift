import CLibevent
import COpenSSL
import Glibc

// MARK: - Every C callback libevent and OpenSSL call, in one place
//
// Each libevent trampoline receives the ``EventLoopServer`` as an unretained `void *arg` (the
// server outlives its event base) and forwards to a Swift method; the OpenSSL ones are at the
// end. Nothing else in the module hands a function pointer to C.

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

    /// `evhttp_set_bevcb`: the bufferevent of a new connection (TLS: an OpenSSL bufferevent).
    static let connectionBufferevent: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> OpaquePointer? = { base, arg in
        guard let base else { return nil }
        return server(arg).newBufferevent(base)
    }

    /// Repeating timer of ``EventLoopServer/schedule(every:_:)`` (the web config reload poll).
    static let periodicTask: @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void = { _, _, arg in
        server(arg).runPeriodicTask()
    }

    /// Read event of ``EventLoopServer/watch(readable:_:)`` (the web config files' inotify).
    static let fileWatch: @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void = { _, _, arg in
        server(arg).runFileWatchTask()
    }

    /// `evbuffer_add_reference` cleanup: libevent no longer needs a body's bytes.
    static let releaseBody: @convention(c) (UnsafeRawPointer?, Int, UnsafeMutableRawPointer?) -> Void = { _, _, box in
        guard let box else { return }
        Unmanaged<ResponseBody>.fromOpaque(box).release()
    }

    // MARK: OpenSSL

    /// `SSL_CTX_set_cert_verify_callback`: judges a client's certificate chain. `arg` is the
    /// context's ``ClientCertificatePolicy``, kept alive by the context itself (``policySlot``).
    static let verifyClientCertificate: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { store, arg in
        guard let store, let arg else { return 0 }
        return Unmanaged<ClientCertificatePolicy>.fromOpaque(arg).takeUnretainedValue().accepts(store) ? 1 : 0
    }

    /// The `SSL_CTX` extra-data slot holding one reference to its ``ClientCertificatePolicy``:
    /// released when OpenSSL frees the context, after the last connection using it has gone.
    static let policySlot: Int32 = multiproc_ssl_ctx_get_ex_new_index(releasePolicy)

    private static let releasePolicy: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?,
                                                       UnsafeMutablePointer<CRYPTO_EX_DATA>?, Int32, Int, UnsafeMutableRawPointer?) -> Void = { _, policy, _, _, _, _ in
        guard let policy else { return }
        Unmanaged<ClientCertificatePolicy>.fromOpaque(policy).release()
    }

    /// `SSL_CTX_set_info_callback`: a handshake that failed because the client spoke plain HTTP
    /// gets Go's answer written to the socket before libevent closes it, so that a client (or a
    /// person with curl) learns what went wrong, as with node_exporter.
    static let handshakeState: @convention(c) (OpaquePointer?, Int32, Int32) -> Void = { ssl, state, result in
        guard state & SSL_CB_EXIT != 0, result <= 0, let ssl else { return }
        let error = ERR_peek_last_error()
        guard ERR_GET_LIB(error) == ERR_LIB_SSL, ERR_GET_REASON(error) == SSL_R_HTTP_REQUEST else { return }
        let fd = SSL_get_fd(ssl)
        guard fd >= 0 else { return }
        plainHTTPReply.withUnsafeBytes { _ = Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
    }

    /// What Go's `net/http` answers an HTTP request on a TLS port.
    static let plainHTTPReply = Array("HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n".utf8)
}

// MARK: HTTP client (push)

extension LibeventBridge {
    /// `evhttp_request_new` of a push: the Pushgateway answered, or the request failed (nil or
    /// no status). `arg` is the ``GatewayExchange``, alive until its event base is freed.
    static let gatewayAnswered: @convention(c) (UnsafeMutablePointer<evhttp_request>?, UnsafeMutableRawPointer?) -> Void = { request, arg in
        guard let arg else { return }
        Unmanaged<GatewayExchange>.fromOpaque(arg).takeUnretainedValue().answered(request)
    }

    /// `evhttp_request_set_error_cb` of a push: why the request failed.
    static let gatewayFailed: @convention(c) (evhttp_request_error, UnsafeMutableRawPointer?) -> Void = { error, arg in
        guard let arg else { return }
        Unmanaged<GatewayExchange>.fromOpaque(arg).takeUnretainedValue().failed(error)
    }
}
