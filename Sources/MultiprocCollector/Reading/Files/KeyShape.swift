// MARK: - The shapes of keys prometheus_client has written

/// Which JSON array a writer stored as an entry's key. Releases changed it without marking
/// files (docs/design.md §2a); the decoder recognises each and ``FileLayout`` says which one a
/// file must hold.
public enum KeyShape: Sendable, Hashable, CaseIterable {
    /// `[metric, sample, {labels}, help]`: 0.16.0 and later.
    case labelsAndHelp
    /// `[metric, sample, {labels}]`: 0.4.0 – 0.15.x, which served HELP
    /// ``SampleKey/multiprocessHelp`` for every family.
    case labelsWithoutHelp
    /// `[metric, sample, [label names], [label values]]`: releases before 0.4.0.
    case labelLists

    /// The shape as people read it in messages.
    var spelled: String {
        switch self {
        case .labelsAndHelp: return "[metric, sample, {labels}, help]"
        case .labelsWithoutHelp: return "[metric, sample, {labels}]"
        case .labelLists: return "[metric, sample, [label names], [label values]]"
        }
    }
}

extension SampleKey {
    /// The HELP text prometheus_client before 0.16 served for every family, its keys having
    /// none (`MP_METRIC_HELP` in its `multiprocess.py`).
    static let multiprocessHelp = "Multiprocess metric"
}

// MARK: - Counters from before 0.4

extension SampleKey {
    /// Whether this key, in a counter file, is a counter of a release before 0.4: those stored
    /// the name given to `Counter(...)` as both metric and sample name, where 0.4 and later
    /// store the name without `_total` and the sample with it (`[orders, orders_total, ...]`).
    /// Compaction's archives keep such keys in today's layout, so the test is on the names,
    /// not the file's layout.
    var isCounterBefore04: Bool { sampleName.exactlyEquals(metricName) }

    /// The metric family this key's entries belong to in a file of `type`: its metric name,
    /// read as 0.4 and later would have written it. A counter before 0.4 named `orders_total`
    /// belongs to family `orders`, as `Counter('orders_total')` of any later release (which
    /// drops the suffix from the family, never from the sample), so both releases' workers add
    /// up to one series `orders_total`. A counter named without `_total` keeps its name (today's
    /// release would serve another series, `orders_total`); ``ExpositionWriter`` then announces
    /// it as its release did.
    func familyName(in type: MetricType) -> String {
        let name = metricName.utf8, suffix = "_total".utf8
        // Byte comparison, as prometheus_client's `endswith` compares code points; an empty
        // family name would be refused by Python, so `_total` alone stays as it is.
        guard type == .counter, isCounterBefore04, name.count > suffix.count, name.suffix(suffix.count).elementsEqual(suffix) else {
            return metricName
        }
        return String(decoding: name.dropLast(suffix.count), as: UTF8.self)
    }
}
