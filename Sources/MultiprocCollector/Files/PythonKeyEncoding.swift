import MultiprocSupport
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
