/// The contents of a `--web.config.file`: prometheus/exporter-toolkit's web configuration
/// (`docs/web-configuration.md`), checked and typed. Built by ``WebConfigParser``; files it
/// names are read later, by ``WebConfigLoader``.
public struct WebConfig: Sendable, Equatable {
    /// `tls_server_config`, or nil when it sets none of the keys that turn TLS on (exporter-toolkit's
    /// `TLSConfig.IsEnabled`: a certificate, a key, a client CA or `client_auth_type`).
    public var tls: TLSServerSettings?
    /// `http_server_config.headers` that have a value, in file order.
    public var headers: [ResponseHeader] = []
    /// `basic_auth_users`: user name → bcrypt hash. Empty: no basic auth.
    public var users: [String: BcryptHash] = [:]
    /// `rate_limit`, or nil when its interval is 0 (off).
    public var rateLimit: RateLimit?
    /// Accepted but noteworthy settings (logged once per load), e.g. a key that is overridden.
    public var notes: [String] = []

    /// No TLS, no headers, no users, no rate limit: what an empty file means.
    public init() {}

    /// One header from `http_server_config.headers`.
    public struct ResponseHeader: Sendable, Equatable {
        /// One of the five names exporter-toolkit allows.
        public var name: String
        /// Its value (checked against the allowed values where exporter-toolkit has a list).
        public var value: String
    }

    /// `rate_limit`: a token bucket over every request, as golang.org/x/time/rate's `Limiter`.
    public struct RateLimit: Sendable, Equatable {
        /// One token is added per interval (seconds, > 0).
        public var interval: Double
        /// Bucket size; the bucket starts full. 0 refuses every request, as in Go.
        public var burst: Int
    }
}

/// `tls_server_config`, with every relative path already resolved against the config file's folder.
public struct TLSServerSettings: Sendable, Equatable {
    /// Where PEM data comes from: a file (`*_file`) or the YAML itself (`cert`, `key`, `client_ca`).
    public enum PEMSource: Sendable, Equatable {
        case file(String)
        case inline(String)

        /// The path, for file sources (watched for reloads).
        public var path: String? {
            if case .file(let path) = self { return path }
            return nil
        }
    }

    /// `client_auth_type`, Go's `tls.ClientAuthType` values (and the old `RequireClientCert` alias).
    public enum ClientAuth: String, Sendable, Equatable, CaseIterable {
        case noClientCert = "NoClientCert"
        case requestClientCert = "RequestClientCert"
        case requireAnyClientCert = "RequireAnyClientCert"
        case verifyClientCertIfGiven = "VerifyClientCertIfGiven"
        case requireAndVerifyClientCert = "RequireAndVerifyClientCert"

        /// Whether the server asks the client for a certificate at all.
        var requestsCertificate: Bool { self != .noClientCert }
        /// Whether a client without a certificate is refused.
        var requiresCertificate: Bool { self == .requireAnyClientCert || self == .requireAndVerifyClientCert }
        /// Whether a presented certificate must chain to a trusted CA.
        var verifiesCertificate: Bool { self == .verifyClientCertIfGiven || self == .requireAndVerifyClientCert }
    }

    /// The server certificate (chain).
    public var certificate: PEMSource
    /// The server's private key.
    public var key: PEMSource
    /// CAs that client certificates must chain to; nil: the system's trust store (as Go's nil pool).
    public var clientCA: PEMSource?
    /// `client_auth_type` (default `NoClientCert`).
    public var clientAuth: ClientAuth = .noClientCert
    /// `client_allowed_sans`: nil when absent; otherwise the client's leaf certificate must carry one
    /// of these DNS, IP, e-mail or URI subject alternative names.
    public var clientAllowedSANs: [String]?
    /// `min_version` (default TLS 1.2).
    public var minVersion: TLSVersion = .tls12
    /// `max_version` (default TLS 1.3).
    public var maxVersion: TLSVersion = .tls13
    /// `cipher_suites` (TLS 1.0–1.2 only, as in Go); empty: Go's default list.
    public var cipherSuites: [GoCipherSuite] = []
    /// `curve_preferences`; empty: OpenSSL's default groups.
    public var curvePreferences: [GoCurve] = []
    /// `prefer_server_cipher_suites` (default true).
    public var preferServerCipherSuites = true

    /// Paths the reloader watches: certificate, key and CA files.
    public var watchedPaths: [String] { [certificate.path, key.path, clientCA?.path].compactMap { $0 } }
}
