// MARK: - Where a push goes: the Pushgateway's grouping key in the URL path

/// The job and grouping labels of a push, and the URL path they make: `/metrics/job/<job>`
/// followed by `/<label>/<value>` per grouping label, sorted by label name, each value escaped
/// exactly as prometheus_client's `push_to_gateway` escapes it (`_escape_grouping_key`):
/// - an empty value: `<label>@base64/=` (the Pushgateway's spelling of "empty");
/// - a value containing `/` or a space: `<label>@base64/<URL-safe base64, padded>`;
/// - anything else: percent-encoded as `urllib.parse.quote_plus` does (letters, digits and
///   `_.-~` stay; UTF-8 bytes of everything else become `%XX`).
public struct GroupingKey: Sendable, Equatable {
    /// The `job` label.
    public let job: String
    /// Further grouping labels, sorted by name.
    public let labels: [(name: String, value: String)]

    public static func == (a: GroupingKey, b: GroupingKey) -> Bool {
        a.job == b.job && a.labels.elementsEqual(b.labels) { $0.name == $1.name && $0.value == $1.value }
    }

    /// - Parameter pairs: `--grouping-key` values, each `name=value` (the value may be empty
    ///   and may contain `=`).
    /// - Throws: a ``ConfigurationError`` for an empty job, a pair without `=`, a name that is
    ///   not a label name (the Pushgateway takes legacy names: `[a-zA-Z_][a-zA-Z0-9_]*`, not
    ///   starting `__`), the name `job` (that is `--job`), or a name given twice.
    public init(job: String, pairs: [String]) throws(ConfigurationError) {
        guard !job.isEmpty else { throw ConfigurationError("--job must not be empty") }
        var labels: [(name: String, value: String)] = []
        for pair in pairs {
            guard let equals = pair.firstIndex(of: "=") else {
                throw ConfigurationError("--grouping-key \(pair): use name=value")
            }
            let name = String(pair[..<equals])
            guard Self.isLabelName(name) else {
                throw ConfigurationError("--grouping-key \(pair): \"\(name)\" is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
            }
            guard name != "job" else { throw ConfigurationError("--grouping-key \(pair): the job is --job") }
            guard !labels.contains(where: { $0.name == name }) else {
                throw ConfigurationError("--grouping-key: \(name) is given twice")
            }
            labels.append((name, String(pair[pair.index(after: equals)...])))
        }
        self.job = job
        self.labels = labels.sorted { $0.name < $1.name }
    }

    /// `/metrics/job/<job>/<name>/<value>…`, to append to the gateway's base URL.
    public var path: String {
        var path = "/metrics"
        for (name, value) in [("job", job)] + labels.map({ ($0.name, $0.value) }) {
            let (key, escaped) = Self.escape(name: name, value: value)
            path += "/\(key)/\(escaped)"
        }
        return path
    }

    static func escape(name: String, value: String) -> (String, String) {
        if value.isEmpty { return (name + "@base64", "=") }
        if value.contains("/") || value.contains(" ") { return (name + "@base64", Base64.encode(Array(value.utf8), urlSafe: true)) }
        return (name, quotePlus(value))
    }

    /// `urllib.parse.quote_plus(value)` (spaces never reach it: they go to base64).
    private static func quotePlus(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            if isUnreserved(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    private static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
            || b == UInt8(ascii: "-") || b == UInt8(ascii: "~")
    }

    private static func isLabelName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, !name.hasPrefix("__") else { return false }
        func letter(_ b: UInt8) -> Bool {
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) || b == UInt8(ascii: "_")
        }
        return letter(first) && bytes.allSatisfy { letter($0) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) }
    }
}
