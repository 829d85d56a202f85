// MARK: - The names a family takes in an exposition

/// The names one family takes in an exposition, in every escaping a scrape can negotiate.
///
/// Two families that take one name cannot both be served: Prometheus' parsers refuse a second
/// `# TYPE` for a name, a histogram `h` followed by a family `h_count`, or two families that
/// one escaping writes alike (`a.b` and `a_b` are both `a_b` with `escaping=underscores`, the
/// text 0.0.4 default). A family takes its name, its sample names and the names its type
/// implies (`x_total` for a counter; `x_bucket`, `x_count`, `x_sum` for a histogram;
/// `x_count`, `x_sum` for a summary), each as every ``EscapingScheme`` writes it.
struct NameClaims: Sendable {
    /// One escaped name under one scheme.
    struct Key: Hashable, Sendable {
        let scheme: EscapingScheme
        let bytes: [UInt8]
    }

    private(set) var keys = Set<Key>()

    init() {}

    init(_ families: some Sequence<MetricFamily>) {
        for family in families { insert(Self.keys(of: family)) }
    }

    mutating func insert(_ new: [Key]) { keys.formUnion(new) }

    func claimsAny(of candidates: [Key]) -> Bool { candidates.contains(where: keys.contains) }

    /// The keys of `family`.
    static func keys(of family: MetricFamily) -> [Key] {
        keys(name: family.name, type: family.type, sampleNames: family.samples.map(\.name))
    }

    static func keys(name: String, type: MetricType, sampleNames: some Sequence<String>) -> [Key] {
        var names: Set<ExactString> = [ExactString(name)]
        let implied: [String]
        switch type {
        case .counter: implied = ["_total"]
        case .histogram: implied = ["_bucket", "_count", "_sum"]
        case .summary: implied = ["_count", "_sum"]
        case .gauge, .unknown: implied = []
        }
        for suffix in implied { names.insert(ExactString(name + suffix)) }
        for sample in sampleNames { names.insert(ExactString(sample)) }
        var keys: [Key] = []
        keys.reserveCapacity(names.count * EscapingScheme.allCases.count)
        for name in names {
            for scheme in EscapingScheme.allCases {
                var bytes: [UInt8] = []
                NameEscaping.appendMetricName(name.value, scheme: scheme, to: &bytes)
                keys.append(Key(scheme: scheme, bytes: bytes))
            }
        }
        return keys
    }

    /// Whether any name of `family` starts with the legacy-name `prefix` when written with
    /// `escaping=underscores`: which leaves legacy names as they are and is the one escaping
    /// that can turn another name into one with such a prefix (`a.b_c` into `a_b_c`).
    static func anyName(of family: MetricFamily, hasPrefix prefix: String) -> Bool {
        let wanted = Array(prefix.utf8)
        return keys(of: family).contains { $0.scheme == .underscores && $0.bytes.starts(with: wanted) }
    }
}
