// MARK: - When two samples are one series

/// Which samples Prometheus would take for one series: the same name and the same labels, a
/// label with an empty value counting as absent. Names only match as written; but a scrape may
/// negotiate an escaping that writes two different names alike (`ключ.x` and `ключ/x` are both
/// `_____x` with `escaping=underscores`, the text 0.0.4 default), so samples that differ only
/// in names collide in that format. ``escapedKeys(_:)`` gives a sample's identity in every
/// escaping, for families that have a name outside the legacy character set (all-legacy names
/// are written as they are, or, with `escaping=dots`, changed one-to-one).
struct SeriesIdentity: Hashable, Sendable {
    /// Nil: the names as written.
    let scheme: EscapingScheme?
    let name: [UInt8]
    /// Escaped label names and their values, sorted by name.
    let labels: [LabelKey]

    struct LabelKey: Hashable, Sendable {
        let name: [UInt8]
        let value: ExactString
    }

    /// The identity of `sample` as written.
    init(_ sample: Sample) {
        self.init(sample, scheme: nil)
    }

    private init(_ sample: Sample, scheme: EscapingScheme?) {
        self.scheme = scheme
        name = Self.escaped(sample.name, scheme: scheme, label: false)
        labels = sample.labels.filter { !$0.value.isEmpty }
            .map { LabelKey(name: Self.escaped($0.name, scheme: scheme, label: true), value: ExactString($0.value)) }
            .sorted { $0.name.lexicographicallyPrecedes($1.name) }
    }

    /// The identities of `sample` in every escaping a scrape can negotiate.
    static func escapedKeys(_ sample: Sample) -> [SeriesIdentity] {
        EscapingScheme.allCases.map { SeriesIdentity(sample, scheme: $0) }
    }

    /// Whether any name of `sample` is outside the legacy character set.
    static func hasNonLegacyName(_ sample: Sample) -> Bool {
        !NameEscaping.isLegacyMetricName(sample.name) || sample.labels.contains { !NameEscaping.isLegacyLabelName($0.name) }
    }

    /// Two label names of one sample that some escaping writes alike (a line with both cannot be
    /// written in that format: a label name twice), or nil.
    static func collidingLabelNames(_ labels: [Label]) -> (String, String, EscapingScheme)? {
        guard labels.contains(where: { !NameEscaping.isLegacyLabelName($0.name) }) else { return nil }
        for scheme in EscapingScheme.allCases {
            var seen: [[UInt8]: String] = [:]
            for label in labels {
                let escaped = escaped(label.name, scheme: scheme, label: true)
                if let other = seen[escaped] { return (other, label.name, scheme) }
                seen[escaped] = label.name
            }
        }
        return nil
    }

    private static func escaped(_ name: String, scheme: EscapingScheme?, label: Bool) -> [UInt8] {
        guard let scheme else { return Array(name.utf8) }
        var out: [UInt8] = []
        if label { NameEscaping.appendLabelName(name, scheme: scheme, to: &out) } else { NameEscaping.appendMetricName(name, scheme: scheme, to: &out) }
        return out
    }
}
