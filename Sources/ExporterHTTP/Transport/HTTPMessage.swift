import Glibc

// MARK: - Plain request and response values
//
// Everything above the libevent bridge (``EventLoopServer``) sees only these values, so routes
// can be tested without sockets and never touch a C pointer.

/// The request methods the server lets through to its handler. Methods outside this list are
/// answered `501`/`405` by libevent itself.
public enum HTTPMethod: String, Sendable, CaseIterable {
    case get = "GET", head = "HEAD", post = "POST", put = "PUT", delete = "DELETE"
    case options = "OPTIONS", trace = "TRACE", connect = "CONNECT", patch = "PATCH"
}

/// Request or response header fields, in order, with case-insensitive lookup.
public struct HTTPHeaders: Sendable, Sequence {
    /// The fields in the order received or added; a name may repeat.
    public private(set) var fields: [(name: String, value: String)] = []

    /// Headers holding `fields`, in order.
    public init(_ fields: [(name: String, value: String)] = []) { self.fields = fields }

    /// Appends a field (never replaces one).
    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }

    /// The value of the first field called `name` (ASCII case-insensitive).
    public subscript(_ name: String) -> String? {
        fields.first { asciiCaseInsensitiveEquals($0.name, name) }?.value
    }

    /// Iterates the fields in order.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }
}

/// One request as the handler sees it.
public struct HTTPRequest: Sendable {
    /// The request method.
    public var method: HTTPMethod
    /// The path exactly as sent (not percent-decoded), without the query.
    public var path: String
    /// The request header fields.
    public var headers: HTTPHeaders
    /// The client, or nil when the socket has no peer address.
    public var peer: PeerAddress?
    /// The request body (bounded by ``ServerLimits/maxBodyBytes``).
    public var body: [UInt8]

    /// A request with the given parts.
    public init(method: HTTPMethod, path: String, headers: HTTPHeaders = HTTPHeaders(), peer: PeerAddress? = nil, body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.headers = headers
        self.peer = peer
        self.body = body
    }
}

/// One response. `Content-Length` is always set by the bridge from ``body``.
public struct HTTPResponse: Sendable {
    /// The status code; the reason phrase is derived from it.
    public var status: Int
    /// Header fields to send, except `Content-Length`.
    public var headers: HTTPHeaders
    /// The body; not sent for `HEAD`, but its length is announced.
    public var body: ResponseBody

    /// A response with the given parts.
    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: ResponseBody = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A `text/plain` response, the shape of every short answer (errors, `/healthz`).
    public static func text(_ status: Int, _ text: String, headers: [(String, String)] = []) -> HTTPResponse {
        var h = HTTPHeaders([("Content-Type", "text/plain; charset=utf-8")])
        for (name, value) in headers { h.add(name, value) }
        return HTTPResponse(status: status, headers: h, body: ResponseBody(Array(text.utf8)))
    }

    /// The reason phrase for `status`.
    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status \(status)"
        }
    }
}

/// Immutable response bytes in one heap allocation that never moves, so libevent can send them
/// by reference (`evbuffer_add_reference`) without a copy; a cached body is shared by every
/// reply that uses it.
public final class ResponseBody: @unchecked Sendable {
    // Invariant: written only in init, freed only in deinit; read-only in between.
    let bytes: UnsafeMutableBufferPointer<UInt8>

    /// Copies `source` into a fresh allocation.
    public init(_ source: [UInt8]) {
        bytes = .allocate(capacity: max(source.count, 1))
        _ = bytes.initialize(from: source)
        count = source.count
    }

    /// Number of bytes.
    public let count: Int

    /// A copy of the bytes.
    public var array: [UInt8] { Array(bytes[0..<count]) }

    /// No bytes.
    public static let empty = ResponseBody([])

    deinit { bytes.deallocate() }
}

func asciiCaseInsensitiveEquals(_ a: String, _ b: String) -> Bool {
    let x = a.utf8, y = b.utf8
    guard x.count == y.count else { return false }
    return zip(x, y).allSatisfy { asciiLower($0) == asciiLower($1) }
}

func asciiLower(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c + 32 : c }
