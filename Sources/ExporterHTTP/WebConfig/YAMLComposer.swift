/// Builds the one document of a YAML text from libyaml's events (``YAMLEventParser``), as Yams'
/// `compose(yaml:)` did for the web config before: an empty text has no document, a second
/// document is an error, an alias stands for the last node its anchor named before it (an
/// anchor is known once its node is complete, so a node cannot contain itself).
///
/// Unlike Yams it never recurses (open collections are a stack of their own), and it bounds the
/// document as it would be once aliases are expanded, so that a few kilobytes of aliases naming
/// aliases ("billion laughs") are refused rather than walked: an alias counts as many nodes and
/// nesting levels as the node it names. The nodes themselves are shared, never copied.
struct YAMLComposer {
    /// Deepest nesting of sequences and mappings, aliases expanded.
    let maximumNesting: Int
    /// Most nodes (scalars and collections), aliases expanded.
    let maximumNodes: Int

    /// The document's root node; nil for a text with no document (empty, or only comments).
    func compose(_ text: String) throws(YAMLDocumentError) -> YAMLNode? {
        let events = YAMLEventParser(text)
        guard case .streamStart = try events.next(), case .documentStart = try events.next() else { return nil }
        let root = try document(events)
        guard case .documentEnd = try events.next() else { throw .syntax("expected the end of the document") }
        if case .documentStart(let mark) = try events.next() { throw .secondDocument(mark) }
        return root
    }

    /// A node with what it costs once its aliases are expanded.
    private struct Composed {
        let node: YAMLNode
        let nodes: Int
        /// Collection levels: 0 for a scalar.
        let nesting: Int
    }

    /// A sequence or mapping whose end event has not come yet.
    private struct OpenCollection {
        let isMapping: Bool
        let anchor: String?
        let mark: YAMLMark
        /// For a mapping: key, value, key, value… (libyaml's event order).
        var children: [YAMLNode] = []
        var nodes = 1
        var nesting = 1

        func closed() throws(YAMLDocumentError) -> Composed {
            let node: YAMLNode
            if isMapping {
                guard children.count % 2 == 0 else { throw .syntax("a mapping key without a value at \(mark)") }
                let pairs = stride(from: 0, to: children.count, by: 2).map { (key: children[$0], value: children[$0 + 1]) }
                node = .mapping(pairs, mark)
            } else {
                node = .sequence(children, mark)
            }
            return Composed(node: node, nodes: nodes, nesting: nesting)
        }
    }

    private func document(_ events: YAMLEventParser) throws(YAMLDocumentError) -> YAMLNode {
        var anchors: [String: Composed] = [:]
        var open: [OpenCollection] = []
        while true {
            let composed: Composed
            var anchor: String? = nil
            switch try events.next() {
            case .scalar(let scalar, let name):
                composed = Composed(node: .scalar(scalar), nodes: 1, nesting: 0)
                anchor = name
            case .alias(let name, let mark):
                guard let named = anchors[name] else { throw .undefinedAlias(name, mark) }
                composed = named
            case .sequenceStart(let name, let mark):
                try push(OpenCollection(isMapping: false, anchor: name, mark: mark), onto: &open)
                continue
            case .mappingStart(let name, let mark):
                try push(OpenCollection(isMapping: true, anchor: name, mark: mark), onto: &open)
                continue
            case .sequenceEnd, .mappingEnd:
                guard let collection = open.popLast() else { throw .syntax("a collection ends that never started") }
                composed = try collection.closed()
                anchor = collection.anchor
            case let other:
                throw .syntax("unexpected \(other) inside a document")
            }
            if let anchor { anchors[anchor] = composed }
            guard var parent = open.popLast() else { return composed.node }
            parent.children.append(composed.node)
            parent.nodes += composed.nodes
            parent.nesting = max(parent.nesting, composed.nesting + 1)
            guard parent.nodes <= maximumNodes else { throw .tooManyNodes(limit: maximumNodes) }
            guard parent.nesting <= maximumNesting else { throw .nestedTooDeep(limit: maximumNesting) }
            open.append(parent)
        }
    }

    private func push(_ collection: OpenCollection, onto open: inout [OpenCollection]) throws(YAMLDocumentError) {
        guard open.count < maximumNesting else { throw .nestedTooDeep(limit: maximumNesting) }
        open.append(collection)
    }
}

/// Why a YAML text gave no document. One line each, with 1-based lines and columns.
enum YAMLDocumentError: Error, Equatable, CustomStringConvertible {
    /// libyaml refused the text (its problem, where, and what it was reading), or ran out of memory.
    case syntax(String)
    case undefinedAlias(String, YAMLMark)
    /// The text holds more than one document (`---` after the first).
    case secondDocument(YAMLMark)
    /// Sequences and mappings nest deeper than the limit, counting through aliases.
    case nestedTooDeep(limit: Int)
    /// More nodes than the limit once aliases are expanded.
    case tooManyNodes(limit: Int)

    var description: String {
        switch self {
        case .syntax(let problem): problem
        case .undefinedAlias(let name, let mark): "found undefined alias \"\(name)\" at \(mark)"
        case .secondDocument(let mark): "expected a single document, but found another document at \(mark)"
        case .nestedTooDeep(let limit): "nested deeper than \(limit) levels"
        case .tooManyNodes(let limit): "more than \(limit) nodes once aliases are expanded"
        }
    }
}
