// MARK: - Keys as prometheus_client writes them

/// Keys exactly as prometheus_client's `mmap_key` writes them, for tests and fuzzing, which
/// need real keys without running Python.
package enum PythonKeys {
    /// A key exactly as prometheus_client's `mmap_key` writes it:
    /// `json.dumps([metric, sample, {labels}, help], sort_keys=True)`, which escapes every
    /// non-ASCII or control character (`ensure_ascii`), with `", "` and `": "` separators.
    package static func encode(metric: String, sample: String, labels: [(name: String, value: String)], help: String) -> String {
        // sort_keys sorts by code point; a dict keeps the last of duplicate names.
        let sorted = SampleKey.sortedUnique(labels.map { Label(name: $0.name, value: $0.value) })
        let body = sorted.map { "\(JSONText.quoted($0.name)): \(JSONText.quoted($0.value))" }.joined(separator: ", ")
        return "[\(JSONText.quoted(metric)), \(JSONText.quoted(sample)), {\(body)}, \(JSONText.quoted(help))]"
    }
}

extension SampleKey {
    /// This key re-encoded the way prometheus_client writes it.
    var pythonEncoded: String {
        PythonKeys.encode(metric: metricName, sample: sampleName, labels: labels.map { ($0.name, $0.value) }, help: help)
    }
}

/// JSON string literals (RFC 8259 §7), as Python's `json.dumps` writes them.
package enum JSONText {
    /// `s` quoted: `"` and `\\` and the usual control escapes, other control characters as
    /// `\uXXXX`; with `asciiOnly` (Python's default `ensure_ascii`) every character past
    /// `~` too, astral ones as surrogate pairs.
    package static func quoted(_ s: String, asciiOnly: Bool = true) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20 || (asciiOnly && scalar.value > 0x7E):
                for unit in String(scalar).utf16 {
                    let hex = String(unit, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
