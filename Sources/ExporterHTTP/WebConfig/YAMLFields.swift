/// Strict reading of a YAML mapping, the way Go's `yaml.UnmarshalStrict` reads into a struct:
/// every key must be known, none may repeat, and values must have the right shape. Errors name
/// the key by its dotted path (`tls_server_config.min_version`) and its line.
///
/// Scalars follow go-yaml v2 (exporter-toolkit's parser): a string field takes any scalar's text,
/// a null (`~`, `null`, empty) leaves the default, booleans are YAML 1.1 (`true`, `yes`, `on`, `y`…).
struct YAMLFields {
    /// Dotted path of this mapping ("" at the top).
    let path: String
    private let entries: [(key: String, value: YAMLNode)]

    /// Reads `node` as a mapping; a null node is an empty mapping.
    init(_ node: YAMLNode?, path: String) throws(ConfigurationError) {
        self.path = path
        guard let node, !Self.isNull(node) else {
            entries = []
            return
        }
        guard case .mapping(let mapping, _) = node else {
            throw Self.error(path.isEmpty ? "the file" : path, node, "must be a mapping of keys to values, not \(Self.kind(node))")
        }
        var seen = Set<String>()
        var entries: [(String, YAMLNode)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else {
                throw Self.error(path.isEmpty ? "the file" : path, keyNode, "has a key that is not a plain string")
            }
            guard seen.insert(key.text).inserted else {
                throw Self.error(Self.join(path, key.text), keyNode, "appears twice")
            }
            entries.append((key.text, value))
        }
        self.entries = entries
    }

    /// Refuses the first key not in `known`.
    func check(known: Set<String>) throws(ConfigurationError) {
        if let unknown = entries.first(where: { !known.contains($0.key) }) {
            throw Self.error(Self.join(path, unknown.key), unknown.value, "unknown key")
        }
    }

    /// The value of `key`, or nil when it is absent or null.
    func node(_ key: String) -> YAMLNode? {
        guard let node = entries.first(where: { $0.key == key })?.value, !Self.isNull(node) else { return nil }
        return node
    }

    /// All keys and values, in file order (for free-form mappings such as `basic_auth_users`).
    var pairs: [(key: String, value: YAMLNode)] { entries }

    func fieldPath(_ key: String) -> String { Self.join(path, key) }

    // MARK: Typed values

    /// A string field: any scalar's text; nil when absent, null or empty (Go's zero value).
    func string(_ key: String) throws(ConfigurationError) -> String? {
        guard let node = node(key) else { return nil }
        let text = try Self.scalarText(node, path: fieldPath(key))
        return text.isEmpty ? nil : text
    }

    /// A list of strings; nil when absent or null, `[]` for an empty list.
    func strings(_ key: String) throws(ConfigurationError) -> [String]? {
        guard let node = node(key) else { return nil }
        guard case .sequence(let sequence, _) = node else {
            throw Self.error(fieldPath(key), node, "must be a list, not \(Self.kind(node))")
        }
        var result: [String] = []
        for (index, item) in sequence.enumerated() {
            result.append(try Self.scalarText(item, path: "\(fieldPath(key))[\(index)]"))
        }
        return result
    }

    /// A list of names, each turned into a value by `lookup`; `unknown` words the error for a
    /// name it does not know (given an excerpt of the name). Empty when absent.
    func names<Value>(_ key: String, _ lookup: (String) -> Value?,
                      unknown: (String) -> String) throws(ConfigurationError) -> [Value] {
        var values: [Value] = []
        for (index, name) in try (strings(key) ?? []).enumerated() {
            guard let value = lookup(name) else {
                throw Self.error("\(fieldPath(key))[\(index)]", node(key), unknown(Self.excerpt(name)))
            }
            values.append(value)
        }
        return values
    }

    /// A boolean (YAML 1.1 spellings, unquoted, as go-yaml v2 reads them); nil when absent or null.
    func bool(_ key: String) throws(ConfigurationError) -> Bool? {
        guard let node = node(key) else { return nil }
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.tag == .bool else {
            throw Self.error(fieldPath(key), node, "must be true or false")
        }
        if Self.trueWords.contains(scalar.text) { return true }
        if Self.falseWords.contains(scalar.text) { return false }
        throw Self.error(fieldPath(key), node, "must be true or false, not \"\(Self.excerpt(scalar.text))\"")
    }

    /// An integer; nil when absent or null.
    func int(_ key: String) throws(ConfigurationError) -> Int? {
        guard let node = node(key) else { return nil }
        guard case .scalar(let scalar) = node, scalar.tag == .int, let value = scalar.integer else {
            throw Self.error(fieldPath(key), node, "must be an integer")
        }
        return value
    }

    // MARK: Helpers

    static let trueWords: Set<String> = ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"]
    static let falseWords: Set<String> = ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"]

    static func isNull(_ node: YAMLNode) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        return scalar.tag == .null
    }

    static func scalarText(_ node: YAMLNode, path: String) throws(ConfigurationError) -> String {
        guard case .scalar(let scalar) = node else { throw error(path, node, "must be a string, not \(kind(node))") }
        return isNull(node) ? "" : scalar.text
    }

    static func kind(_ node: YAMLNode) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar: "a scalar"
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// A value quoted in an error: at most 40 characters, control characters replaced.
    static func excerpt(_ text: String) -> String {
        let cleaned = printable(text)
        return cleaned.count > 40 ? String(cleaned.prefix(40)) + "…" : cleaned
    }

    /// `text` with control characters (line breaks too) replaced by `?`: file names and keys
    /// come from the file, and an error must stay one line.
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 }))
    }

    static func error(_ path: String, _ node: YAMLNode?, _ problem: String) -> ConfigurationError {
        let line = node.map { " (line \($0.mark.line))" } ?? ""
        return ConfigurationError(printable("web config: \(path)\(line): \(problem)"))
    }
}
