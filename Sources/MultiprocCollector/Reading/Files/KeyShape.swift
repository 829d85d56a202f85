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
