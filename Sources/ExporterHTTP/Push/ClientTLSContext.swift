import COpenSSL
import Glibc
import MultiprocSupport

/// The OpenSSL client context (`SSL_CTX`) of `push` over `https://`: the gateway's certificate
/// verified against `tls_config.ca_file` (or the system's CAs) and for the gateway's name, a
/// client certificate when one is configured, at least `min_version`. As Go's client does, the
/// name checked and sent as SNI is `server_name`, else the URL's host; an IP address is matched
/// against the certificate's IP addresses and sends no SNI.
final class ClientTLSContext: @unchecked Sendable {
    // Invariant: configured in init, never changed after.
    let context: OpaquePointer
    private let settings: GatewayClientConfig.TLS

    init(_ settings: GatewayClientConfig.TLS) throws(ConfigurationError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw Self.failure("tls_config", "cannot create an OpenSSL context") }
        self.context = context
        self.settings = settings
        guard multiproc_ssl_ctx_set_min_proto_version(context, settings.minVersion.openSSL) == 1 else {
            throw Self.failure("tls_config.min_version", "OpenSSL refuses \(settings.minVersion.rawValue)")
        }
        if settings.insecureSkipVerify {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            if let caFile = settings.caFile {
                let cas = PEMBundle.certificates(try Self.read(caFile, key: "ca_file"))
                guard !cas.isEmpty else { throw Self.failure("tls_config.ca_file", "no PEM certificate found in \(caFile)") }
                let store = SSL_CTX_get_cert_store(context)
                for ca in cas {
                    X509_STORE_add_cert(store, ca)
                    X509_free(ca)
                }
                ERR_clear_error()  // a CA listed twice is "already in hash table": harmless
            } else {
                SSL_CTX_set_default_verify_paths(context)
            }
        }
        if let certFile = settings.certFile, let keyFile = settings.keyFile {
            try TLSContext.installIdentity(in: context, chain: try Self.read(certFile, key: "cert_file"),
                                           key: { () throws(ConfigurationError) in try Self.read(keyFile, key: "key_file") }) { problem in
                switch problem {
                case .noCertificate: Self.failure("tls_config.cert_file", "no PEM certificate found in \(certFile)")
                case .certificateRefused(let why): Self.failure("tls_config.cert_file", "OpenSSL refuses the certificate: \(why)")
                case .noKey: Self.failure("tls_config.key_file", "no unencrypted PEM private key found in \(keyFile)")
                case .keyMismatch: Self.failure("tls_config.key_file", "the private key does not match the certificate in \(certFile)")
                }
            }
        }
    }

    deinit { SSL_CTX_free(context) }

    /// Whether the gateway's certificate is checked (not `insecure_skip_verify`).
    var verifiesPeer: Bool { !settings.insecureSkipVerify }

    /// A new `SSL` for a connection to `host`, set up to verify that name (or address), or nil
    /// if OpenSSL is out of memory.
    func connection(to host: String) -> OpaquePointer? {
        guard let ssl = SSL_new(context) else { return nil }
        let name = settings.serverName ?? host
        if Self.isIPAddress(name) {
            if !settings.insecureSkipVerify { X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) }
        } else {
            multiproc_ssl_set_tlsext_host_name(ssl, name)
            if !settings.insecureSkipVerify { SSL_set1_host(ssl, name) }
        }
        return ssl
    }

    private static func isIPAddress(_ text: String) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, text, &buffer) == 1 || inet_pton(AF_INET6, text, &buffer) == 1
    }

    private static func read(_ path: String, key: String) throws(ConfigurationError) -> [UInt8] {
        do {
            return try FileContents.read(path, limit: WebConfigParser.maximumBytes)
        } catch {
            throw failure("tls_config.\(key)", "cannot read \(path): \(error.description)")
        }
    }

    private static func failure(_ key: String, _ problem: String) -> ConfigurationError {
        ConfigurationError(YAMLFields.printable("gateway config: \(key): \(problem)"))
    }
}
