import CLibYAML

/// libyaml's event parser (Debian's libyaml-0-2), one event at a time as a Swift value: the only
/// code that touches libyaml. Each C event is copied out and deleted before the next is parsed,
/// so no libyaml memory outlives a call; the parser and its copy of the text go with the object.
///
/// The event API rather than libyaml's own document loader: aliases stay visible, so that
/// ``YAMLComposer`` can share what an alias names instead of copying it, and bound the document
/// it would expand to.
final class YAMLEventParser {
    /// libyaml's events, less what the composer does not use (styles of collections, directives).
    enum Event {
        case streamStart, streamEnd
        case documentStart(YAMLMark), documentEnd
        case alias(anchor: String, YAMLMark)
        case scalar(YAMLScalar, anchor: String?)
        case sequenceStart(anchor: String?, YAMLMark), sequenceEnd
        case mappingStart(anchor: String?, YAMLMark), mappingEnd
    }

    private let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
    private let event = UnsafeMutablePointer<yaml_event_t>.allocate(capacity: 1)
    /// libyaml reads the text in place: it must live as long as the parser.
    private let input: UnsafeMutableBufferPointer<UInt8>

    /// False when libyaml could not allocate its buffers: ``next()`` then fails.
    private let ready: Bool

    init(_ text: String) {
        input = .allocate(capacity: max(1, text.utf8.count))  // libyaml refuses a null pointer
        _ = input.initialize(from: text.utf8)
        ready = yaml_parser_initialize(parser) == 1
        guard ready else { return }
        yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(parser, input.baseAddress, text.utf8.count)
    }

    deinit {
        if ready { yaml_parser_delete(parser) }
        input.deallocate()
        parser.deallocate()
        event.deallocate()
    }

    /// The next event; after `streamEnd` or an error, libyaml has nothing more to give.
    func next() throws(YAMLDocumentError) -> Event {
        guard ready else { throw .syntax("out of memory") }
        guard yaml_parser_parse(parser, event) == 1 else { throw .syntax(problem()) }
        defer { yaml_event_delete(event) }
        let mark = Self.mark(event.pointee.start_mark)
        switch event.pointee.type {
        case YAML_STREAM_START_EVENT: return .streamStart
        case YAML_DOCUMENT_START_EVENT: return .documentStart(mark)
        case YAML_DOCUMENT_END_EVENT: return .documentEnd
        case YAML_ALIAS_EVENT: return .alias(anchor: Self.string(event.pointee.data.alias.anchor) ?? "", mark)
        case YAML_SCALAR_EVENT: return scalar(mark)
        case YAML_SEQUENCE_START_EVENT: return .sequenceStart(anchor: Self.string(event.pointee.data.sequence_start.anchor), mark)
        case YAML_SEQUENCE_END_EVENT: return .sequenceEnd
        case YAML_MAPPING_START_EVENT: return .mappingStart(anchor: Self.string(event.pointee.data.mapping_start.anchor), mark)
        case YAML_MAPPING_END_EVENT: return .mappingEnd
        default: return .streamEnd  // YAML_STREAM_END_EVENT (YAML_NO_EVENT is never returned on success)
        }
    }

    private func scalar(_ mark: YAMLMark) -> Event {
        let data = event.pointee.data.scalar
        // Scalar text may hold NUL (`"\0"`): its length, not a C string.
        let text = String(decoding: UnsafeBufferPointer(start: data.value, count: data.length), as: UTF8.self)
        let style: YAMLScalar.Style = switch data.style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: .literal
        case YAML_FOLDED_SCALAR_STYLE: .folded
        default: .plain
        }
        // libyaml marks an untagged quoted or block scalar `quoted_implicit` (a string), and leaves
        // an untagged plain one without a tag, to be resolved by its text.
        let tag: YAMLScalar.Tag
        if data.quoted_implicit != 0 {
            tag = .other
        } else if let explicit = Self.string(data.tag) {
            tag = YAMLScalar.Tag(explicit: explicit)
        } else {
            tag = .implicit(text)
        }
        return .scalar(YAMLScalar(text: text, style: style, tag: tag, mark: mark), anchor: Self.string(data.anchor))
    }

    /// libyaml's error as one line: the problem, where, and what it was reading then.
    private func problem() -> String {
        let state = parser.pointee
        let what = state.problem.map { String(cString: $0) } ?? "unknown error"
        switch state.error {
        case YAML_MEMORY_ERROR:
            return "out of memory"
        case YAML_READER_ERROR:
            // Bad bytes (control characters, which a Swift string may hold): only an offset is known.
            let value = state.problem_value == -1 ? "" : " (U+\(String(UInt32(bitPattern: state.problem_value), radix: 16, uppercase: true)))"
            return "\(what)\(value) at \(offsetMark(state.problem_offset))"
        default:
            let context = state.context.map { "; \(String(cString: $0)) at \(Self.mark(state.context_mark))" } ?? ""
            return "\(what) at \(Self.mark(state.problem_mark))\(context)"
        }
    }

    private func offsetMark(_ offset: Int) -> YAMLMark {
        let before = input.prefix(min(offset, input.count))
        let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        let column = before[lineStart...].filter { $0 & 0xC0 != 0x80 }.count  // scalars, not bytes
        return YAMLMark(line: before.count { $0 == UInt8(ascii: "\n") } + 1, column: column + 1)
    }

    private static func mark(_ mark: yaml_mark_t) -> YAMLMark {
        YAMLMark(line: Int(mark.line) + 1, column: Int(mark.column) + 1)  // libyaml counts from 0
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}

extension YAMLMark: CustomStringConvertible {
    var description: String { "line \(line), column \(column)" }
}
