import COpenSSL

// MARK: - Go's names for TLS parameters, mapped to OpenSSL's
//
// exporter-toolkit takes versions, cipher suites and curves by their Go `crypto/tls` names and
// accepts exactly the names below (its `tlsVersions` and `curves` maps, and Go's
// `tls.CipherSuites()`): anything else is refused at load, as it refuses it.

/// `min_version` / `max_version`.
public enum TLSVersion: String, Sendable, CaseIterable, Comparable {
    case tls10 = "TLS10", tls11 = "TLS11", tls12 = "TLS12", tls13 = "TLS13"

    /// OpenSSL's protocol version number.
    var openSSL: Int32 {
        switch self {
        case .tls10: TLS1_VERSION
        case .tls11: TLS1_1_VERSION
        case .tls12: TLS1_2_VERSION
        case .tls13: TLS1_3_VERSION
        }
    }

    public static func < (a: TLSVersion, b: TLSVersion) -> Bool { a.openSSL < b.openSSL }
}

/// A `cipher_suites` entry: one of the suites Go's `tls.CipherSuites()` lists.
///
/// As in Go, the list configures TLS 1.0–1.2 only: the three TLS 1.3 suites are accepted (Go lists
/// them) and change nothing, because TLS 1.3 suites are not configurable in Go.
public struct GoCipherSuite: Sendable, Hashable, CustomStringConvertible {
    /// The Go (and IANA) name, e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`.
    public let name: String
    /// OpenSSL's name for `SSL_CTX_set_cipher_list`; nil for the TLS 1.3 suites.
    let openSSLName: String?

    /// The suite called `name` in Go, or nil if Go's `tls.CipherSuites()` has no such suite.
    public init?(goName name: String) {
        guard let entry = Self.table.first(where: { $0.go == name }) else { return nil }
        self.name = name
        openSSLName = entry.openSSL
    }

    public var description: String { name }

    /// Go's `tls.CipherSuites()` (Go 1.25: the RSA key exchange and 3DES suites are insecure there
    /// and not accepted by exporter-toolkit), in Go's server preference order for TLS 1.2.
    static let table: [(go: String, openSSL: String?)] = [
        ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"),
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"),
        ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
        ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"),
        ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"),
        ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"),
        ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"),
        ("TLS_AES_128_GCM_SHA256", nil),
        ("TLS_AES_256_GCM_SHA384", nil),
        ("TLS_CHACHA20_POLY1305_SHA256", nil),
    ]

    /// Go's default TLS 1.0–1.2 suites when `cipher_suites` is empty: every ECDHE suite above.
    static let goDefaultOpenSSLList = table.compactMap(\.openSSL).joined(separator: ":")
}

/// A `curve_preferences` entry: exporter-toolkit's four names.
public enum GoCurve: String, Sendable, CaseIterable {
    case p256 = "CurveP256", p384 = "CurveP384", p521 = "CurveP521", x25519 = "X25519"

    /// OpenSSL's group name for `SSL_CTX_set1_groups_list`.
    var openSSLGroup: String {
        switch self {
        case .p256: "P-256"
        case .p384: "P-384"
        case .p521: "P-521"
        case .x25519: "X25519"
        }
    }
}
