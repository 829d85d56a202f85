import COpenSSL

/// One OpenSSL server context (`SSL_CTX`) built from ``TLSServerSettings``: certificate and key,
/// versions, cipher suites, groups, client certificate policy. Immutable once built; a reload
/// builds a new one (off the event loop) and new connections take it, while connections already
/// open keep the context they started with (OpenSSL counts its references).
final class TLSContext: @unchecked Sendable {
    // Invariant: `context` is fully configured in init and never changed after; OpenSSL allows
    // SSL_new on a configured SSL_CTX from any thread.
    let context: OpaquePointer

    /// Reads what `settings` name through `pem` (file bytes, or the inline YAML text) and builds
    /// the context; every problem is one line naming the key.
    init(_ settings: TLSServerSettings,
         pem: (TLSServerSettings.PEMSource, String) throws(ConfigurationError) -> [UInt8]) throws(ConfigurationError) {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw Self.failure("tls_server_config", "cannot create an OpenSSL context") }
        self.context = context
        try configureProtocol(settings)
        try configureIdentity(settings, pem: pem)
        try configureClientCertificates(settings, pem: pem)
        SSL_CTX_set_info_callback(context, LibeventBridge.handshakeState)
    }

    deinit { SSL_CTX_free(context) }

    /// A new connection's `SSL`, or nil if OpenSSL is out of memory.
    func newConnection() -> OpaquePointer? { SSL_new(context) }

    // MARK: Building

    private func configureProtocol(_ settings: TLSServerSettings) throws(ConfigurationError) {
        var options = multiproc_ssl_op_no_renegotiation | multiproc_ssl_op_no_compression  // as Go's server
        if settings.preferServerCipherSuites { options |= multiproc_ssl_op_cipher_server_preference }
        SSL_CTX_set_options(context, options)
        var minVersion = settings.minVersion
        let tls12Suites = settings.cipherSuites.compactMap(\.openSSLName)
        if !settings.cipherSuites.isEmpty && tls12Suites.isEmpty {
            // Only TLS 1.3 suites listed: Go then has no suite for TLS 1.0-1.2, so only TLS 1.3 works.
            guard settings.maxVersion == .tls13 else {
                throw Self.failure("tls_server_config.cipher_suites", "lists only TLS 1.3 suites, but max_version is \(settings.maxVersion.rawValue)")
            }
            minVersion = .tls13
        }
        guard multiproc_ssl_ctx_set_min_proto_version(context, minVersion.openSSL) == 1,
              multiproc_ssl_ctx_set_max_proto_version(context, settings.maxVersion.openSSL) == 1 else {
            throw Self.failure("tls_server_config.min_version", "OpenSSL refuses \(minVersion.rawValue)-\(settings.maxVersion.rawValue)")
        }
        var list = tls12Suites.isEmpty ? GoCipherSuite.goDefaultOpenSSLList : tls12Suites.joined(separator: ":")
        // OpenSSL 3 refuses TLS 1.0/1.1 handshakes above security level 0; Go allows them when asked.
        if minVersion < .tls12 { list += ":@SECLEVEL=0" }
        guard SSL_CTX_set_cipher_list(context, list) == 1 else {
            throw Self.failure("tls_server_config.cipher_suites", "OpenSSL accepts none of \(list)")
        }
        if !settings.curvePreferences.isEmpty {
            let groups = settings.curvePreferences.map(\.openSSLGroup).joined(separator: ":")
            guard multiproc_ssl_ctx_set1_groups_list(context, groups) == 1 else {
                throw Self.failure("tls_server_config.curve_preferences", "OpenSSL does not offer \(groups)")
            }
        }
        // Resumed sessions skip client certificate checks, so they must stay within one context.
        let sessionContext = Array("multiproc-exporter".utf8)
        SSL_CTX_set_session_id_context(context, sessionContext, UInt32(sessionContext.count))
    }

    private func configureIdentity(_ settings: TLSServerSettings,
                                   pem: (TLSServerSettings.PEMSource, String) throws(ConfigurationError) -> [UInt8]) throws(ConfigurationError) {
        let certKey = settings.certificate.path == nil ? "cert" : "cert_file"
        let keyKey = settings.key.path == nil ? "key" : "key_file"
        try Self.installIdentity(in: context, chain: try pem(settings.certificate, certKey),
                                 key: { () throws(ConfigurationError) in try pem(settings.key, keyKey) }) { problem in
            switch problem {
            case .noCertificate: Self.failure("tls_server_config.\(certKey)", "no PEM certificate found\(Self.where(settings.certificate))")
            case .certificateRefused(let why): Self.failure("tls_server_config.\(certKey)", "OpenSSL refuses the certificate: \(why)")
            case .noKey: Self.failure("tls_server_config.\(keyKey)", "no unencrypted PEM private key found\(Self.where(settings.key))")
            case .keyMismatch: Self.failure("tls_server_config.\(keyKey)", "the private key does not match the certificate\(Self.where(settings.certificate))")
            }
        }
    }

    /// Why ``installIdentity(in:chain:key:fail:)`` could not.
    enum IdentityProblem {
        case noCertificate, certificateRefused(String), noKey, keyMismatch
    }

    /// Puts a certificate chain (PEM, leaf first) and its private key (read by `key` once the
    /// chain is in) into `context`, for the server and for `push`'s client certificate alike:
    /// the one place that hands OpenSSL its references. `fail` words each problem.
    static func installIdentity(in context: OpaquePointer, chain pem: [UInt8], key: () throws(ConfigurationError) -> [UInt8],
                                fail: (IdentityProblem) -> ConfigurationError) throws(ConfigurationError) {
        let chain = PEMBundle.certificates(pem)
        guard let leaf = chain.first else { throw fail(.noCertificate) }
        defer { X509_free(leaf) }
        guard SSL_CTX_use_certificate(context, leaf) == 1 else {
            for cert in chain.dropFirst() { X509_free(cert) }
            throw fail(.certificateRefused(openSSLError()))
        }
        for cert in chain.dropFirst() where multiproc_ssl_ctx_add_extra_chain_cert(context, cert) != 1 {
            X509_free(cert)  // on success the context owns it
        }
        guard let privateKey = PEMBundle.privateKey(try key()) else { throw fail(.noKey) }
        defer { EVP_PKEY_free(privateKey) }
        guard SSL_CTX_use_PrivateKey(context, privateKey) == 1, SSL_CTX_check_private_key(context) == 1 else {
            ERR_clear_error()
            throw fail(.keyMismatch)
        }
    }

    private func configureClientCertificates(_ settings: TLSServerSettings,
                                             pem: (TLSServerSettings.PEMSource, String) throws(ConfigurationError) -> [UInt8]) throws(ConfigurationError) {
        let auth = settings.clientAuth
        guard auth.requestsCertificate else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
            return
        }
        if let source = settings.clientCA {
            let key = source.path == nil ? "client_ca" : "client_ca_file"
            let cas = PEMBundle.certificates(try pem(source, key))
            guard !cas.isEmpty else { throw Self.failure("tls_server_config.\(key)", "no PEM certificate found\(Self.where(source))") }
            let store = SSL_CTX_get_cert_store(context)
            for ca in cas {
                X509_STORE_add_cert(store, ca)
                SSL_CTX_add_client_CA(context, ca)  // named in the CertificateRequest, as Go does
                X509_free(ca)
            }
            ERR_clear_error()  // a CA listed twice is "already in hash table": harmless
        } else if auth.verifiesCertificate {
            SSL_CTX_set_default_verify_paths(context)  // Go's nil ClientCAs pool means the system roots
        }
        // With client_allowed_sans, a client without a certificate fails too: exporter-toolkit's
        // VerifyPeerCertificate cannot accept an empty chain.
        let required = auth.requiresCertificate || settings.clientAllowedSANs != nil
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER | (required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nil)
        let policy = ClientCertificatePolicy(verifiesChain: auth.verifiesCertificate, allowedSANs: settings.clientAllowedSANs)
        let retained = Unmanaged.passRetained(policy).toOpaque()
        // The context owns one reference, released when OpenSSL frees it (see LibeventBridge).
        multiproc_ssl_ctx_set_ex_data(context, LibeventBridge.policySlot, retained)
        SSL_CTX_set_cert_verify_callback(context, LibeventBridge.verifyClientCertificate, retained)
    }

    // MARK: Errors

    private static func failure(_ key: String, _ problem: String) -> ConfigurationError {
        ConfigurationError(YAMLFields.printable("web config: \(key): \(problem)"))
    }

    private static func `where`(_ source: TLSServerSettings.PEMSource) -> String {
        source.path.map { " in \($0)" } ?? ""
    }

    /// The oldest queued OpenSSL error as text (and the queue emptied).
    static func openSSLError() -> String {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return "unknown error" }
        return openSSLErrorText(code)
    }

    /// OpenSSL's text for the error `code` (`error:0A000086:SSL routines::...`).
    static func openSSLErrorText(_ code: UInt) -> String {
        var text = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &text, text.count)
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
