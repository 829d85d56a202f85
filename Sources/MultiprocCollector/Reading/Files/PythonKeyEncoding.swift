import MultiprocSupport
// MARK: - Keys as prometheus_client writes them

/// Keys exactly as prometheus_client's `mmap_key` writes them, for tests and fuzzing, which
/// need real keys without running Python.
package enum PythonKeys {
    /// A key exactly as prometheus_client's `mmap_key` writes it:
    /// `json.dumps([metric, sample, {labels}, help], sort_keys=True)`, which escapes every
    /// non-ASCII or control character (`ensure_ascii`), with `", "` and `": "` separators.
    package static func encode(metric: String, sample: String, labels: [(name: String, value: String)], help: String) -> String {
        encode(metric: metric, sample: sample, labels: labels, help: help, shape: .labelsAndHelp)
    }

    /// A key as the releases that wrote `shape` wrote it: `[metric, sample, {labels}]` with
    /// `sort_keys` from 0.4 to 0.15 (no help), `json.dumps((metric, sample, labelnames,
    /// labelvalues))` before 0.4 (labels in declaration order, no help).
    package static func encode(metric: String, sample: String, labels: [(name: String, value: String)], help: String,
                               shape: KeyShape) -> String {
        let head = "[\(JSONText.quoted(metric)), \(JSONText.quoted(sample)), "
        if shape == .labelLists {
            let names = labels.map { JSONText.quoted($0.name) }.joined(separator: ", ")
            let values = labels.map { JSONText.quoted($0.value) }.joined(separator: ", ")
            return head + "[\(names)], [\(values)]]"
        }
        // sort_keys sorts by code point; a dict keeps the last of duplicate names.
        let sorted = SampleKey.sortedUnique(labels.map { Label(name: $0.name, value: $0.value) })
        let body = sorted.map { "\(JSONText.quoted($0.name)): \(JSONText.quoted($0.value))" }.joined(separator: ", ")
        return head + (shape == .labelsAndHelp ? "{\(body)}, \(JSONText.quoted(help))]" : "{\(body)}]")
    }
}

extension SampleKey {
    /// This key re-encoded the way prometheus_client writes it.
    var pythonEncoded: String {
        PythonKeys.encode(metric: metricName, sample: sampleName, labels: labels.map { ($0.name, $0.value) }, help: help)
    }
}
