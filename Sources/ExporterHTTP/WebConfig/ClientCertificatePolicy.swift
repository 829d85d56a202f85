import COpenSSL

/// How a client certificate is judged once the client has sent one; OpenSSL calls
/// ``accepts(_:)`` through the certificate-verification trampoline in ``LibeventBridge``.
///
/// Mirrors Go's server handshake as exporter-toolkit configures it: for `VerifyClientCertIfGiven`
/// and `RequireAndVerifyClientCert` the chain must verify against the client CAs; for
/// `RequestClientCert` and `RequireAnyClientCert` any certificate is taken unverified; then, with
/// `client_allowed_sans`, the leaf must carry one of those names (exporter-toolkit's
/// `VerifyPeerCertificate`), else the handshake fails with a `bad_certificate` alert, as in Go.
final class ClientCertificatePolicy: Sendable {
    let verifiesChain: Bool
    let allowedSANs: Set<String>?

    init(verifiesChain: Bool, allowedSANs: [String]?) {
        self.verifiesChain = verifiesChain
        self.allowedSANs = allowedSANs.map(Set.init)
    }

    /// The decision for the chain in `store` (an `X509_STORE_CTX`, leaf first).
    func accepts(_ store: OpaquePointer) -> Bool {
        if verifiesChain && X509_verify_cert(store) != 1 { return false }
        guard let allowedSANs else { return true }
        guard let leaf = X509_STORE_CTX_get0_cert(store),
              PEMBundle.subjectAlternativeNames(leaf).contains(where: allowedSANs.contains) else {
            X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED)  // sent as bad_certificate
            return false
        }
        return true
    }
}
