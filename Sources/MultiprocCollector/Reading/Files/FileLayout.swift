// MARK: - How one file lays out its entries

/// The layout of one metric file: the ``KeyShape`` of its keys and how many bytes follow each
/// key. prometheus_client changed both without a version marker in the file (docs/design.md §2a),
/// so a directory can hold files of several layouts; ``LayoutDetection`` tells them apart
/// from the bytes.
///
/// The raw values are the `layout` label of `multiproc_exporter_files_by_layout` and what
/// `check` prints.
public enum FileLayout: String, Sendable, Hashable, CaseIterable, Comparable {
    /// prometheus_client 0.18.0 and later: `[metric, sample, {labels}, help]`, then a float64
    /// value and a float64 timestamp (read by `mostrecent` gauges).
    case k4v16
    /// 0.16.0 – 0.17.1: `[metric, sample, {labels}, help]`, then a float64 value.
    case k4v8
    /// 0.4.0 – 0.15.x: `[metric, sample, {labels}]`, then a float64 value. Served with HELP
    /// `Multiprocess metric`, as those releases did.
    case k3v8
    /// Before 0.4.0: `[metric, sample, [label names], [label values]]`, then a float64 value.
    /// Served with HELP `Multiprocess metric`.
    case k4lv8

    /// Bytes after each key's padding: the value, and for ``k4v16`` its timestamp.
    public var valueWidth: Int { self == .k4v16 ? 16 : 8 }

    /// Whether entries carry a timestamp; without one, a `mostrecent` merge sees 0.
    public var hasTimestamps: Bool { self == .k4v16 }

    /// The key shape every entry of a file of this layout has.
    public var keyShape: KeyShape {
        switch self {
        case .k4v16, .k4v8: return .labelsAndHelp
        case .k3v8: return .labelsWithoutHelp
        case .k4lv8: return .labelLists
        }
    }

    /// The prometheus_client releases that write this layout.
    public var writers: String {
        switch self {
        case .k4v16: return "0.18.0 and later"
        case .k4v8: return "0.16.0 - 0.17.1"
        case .k3v8: return "0.4.0 - 0.15.x"
        case .k4lv8: return "before 0.4.0"
        }
    }

    /// The layout of `shape` keys followed by `valueWidth` bytes, if a release wrote one.
    init?(shape: KeyShape, valueWidth: Int) {
        guard let layout = Self.allCases.first(where: { $0.keyShape == shape && $0.valueWidth == valueWidth }) else { return nil }
        self = layout
    }

    public static func < (a: FileLayout, b: FileLayout) -> Bool { a.rawValue < b.rawValue }
}
