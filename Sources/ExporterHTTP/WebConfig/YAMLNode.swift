/// One node of a YAML document, as ``YAMLComposer`` builds it from libyaml's events and
/// ``YAMLFields`` reads it: the representation graph of YAML 1.1 with aliases already replaced
/// by the nodes they name (shared, not copied), and each node's place in the file for errors.
///
/// No construction into Swift values happens here: a scalar keeps its text, style and tag, and
/// the schema walk decides what a value means where it is used (go-yaml v2 does the same per
/// field type), so that `"true"` stays a string for `cert_file` and `true` a boolean for `http2`.
enum YAMLNode: Sendable {
    case scalar(YAMLScalar)
    /// Items in file order.
    case sequence([YAMLNode], YAMLMark)
    /// Entries in file order; keys may repeat and may be any node (``YAMLFields`` refuses both).
    case mapping([(key: YAMLNode, value: YAMLNode)], YAMLMark)

    /// Where the node starts in the file (its anchor or tag, when it has one).
    var mark: YAMLMark {
        switch self {
        case .scalar(let scalar): scalar.mark
        case .sequence(_, let mark), .mapping(_, let mark): mark
        }
    }
}

/// A place in a YAML text, counted from 1 like an editor (and like Yams, whose line numbers the
/// error messages kept); libyaml counts from 0. Columns count Unicode scalars.
struct YAMLMark: Sendable, Equatable {
    let line: Int
    let column: Int
}
