// MARK: - The merged result as plain values

/// One merged sample.
public struct Sample: Hashable, Sendable {
    /// Sample name (`requests_total`, `latency_seconds_bucket`, …).
    public var name: String
    /// Labels, unique and sorted by name in code point order.
    public var labels: [Label]
    public var value: Double

    public init(name: String, labels: [Label], value: Double) {
        self.name = name
        self.labels = labels
        self.value = value
    }

    public static func == (a: Sample, b: Sample) -> Bool {
        a.name.exactlyEquals(b.name) && a.labels == b.labels && a.value.bitPattern == b.value.bitPattern
    }

    public func hash(into hasher: inout Hasher) {
        name.hashExactly(into: &hasher)
        hasher.combine(labels)
        hasher.combine(value.bitPattern)
    }
}

/// One merged metric family: what prometheus_client's `Metric` holds after the merge.
public struct MetricFamily: Hashable, Sendable {
    /// Metric name as stored in the files (counters without `_total`).
    public var name: String
    public var type: MetricType
    public var help: String
    public var samples: [Sample]

    public init(name: String, type: MetricType, help: String, samples: [Sample]) {
        self.name = name
        self.type = type
        self.help = help
        self.samples = samples
    }
}
