@testable import ExporterHTTP
import Testing

/// The YAML layer under the web config: libyaml's events composed into ``YAMLNode`` trees, with
/// the YAML 1.1 scalar types that the files were read with when Yams composed them.
@Suite("web config: YAML documents from libyaml")
struct YAMLComposerTests {
    let composer = YAMLComposer(maximumNesting: 64, maximumNodes: 1 << 20)

    func scalar(_ yaml: String) throws -> YAMLScalar {
        guard case .scalar(let scalar)? = try composer.compose(yaml) else { throw YAMLDocumentError.syntax("not a scalar: \(yaml)") }
        return scalar
    }

    func failure(_ yaml: String, _ composer: YAMLComposer? = nil) -> YAMLDocumentError? {
        do {
            _ = try (composer ?? self.composer).compose(yaml)
            return nil
        } catch {
            return error
        }
    }

    @Test func documentsAndTheirAbsence() throws {
        for empty in ["", "\n", "# comment only\n", "  \n\n"] {
            #expect(try composer.compose(empty) == nil, "\(empty.debugDescription)")
        }
        guard case .mapping(let pairs, let mark)? = try composer.compose("---\na: 1\nb: [x, {c: d}]\n...\n") else {
            Issue.record("not a mapping")
            return
        }
        #expect(mark == YAMLMark(line: 2, column: 1))
        #expect(pairs.count == 2)
        guard case .sequence(let items, let itemsMark) = pairs[1].value else {
            Issue.record("b is not a sequence")
            return
        }
        #expect(itemsMark == YAMLMark(line: 3, column: 4))
        #expect(items.count == 2 && items[1].mark == YAMLMark(line: 3, column: 8))
        #expect(failure("a: 1\n---\nb: 2\n") == .secondDocument(YAMLMark(line: 2, column: 1)))
    }

    @Test func aliasesNameTheLastCompleteAnchor() throws {
        guard case .mapping(let pairs, _)? = try composer.compose("a: &x {k: v}\nb: *x\nc: &x 2\nd: *x\n") else {
            Issue.record("not a mapping")
            return
        }
        guard case .mapping(let aliased, let mark) = pairs[1].value, case .scalar(let key) = aliased[0].key else {
            Issue.record("b is not the anchored mapping")
            return
        }
        #expect(key.text == "k" && mark == YAMLMark(line: 1, column: 4))  // the anchored node, where it was written
        guard case .scalar(let redefined) = pairs[3].value else {
            Issue.record("d is not a scalar")
            return
        }
        #expect(redefined.text == "2" && redefined.tag == .int)
        #expect(failure("a: *nowhere\n") == .undefinedAlias("nowhere", YAMLMark(line: 1, column: 4)))
        // An anchor is known once its node is complete: a node cannot contain itself.
        #expect(failure("a: &x [1, *x]\n") == .undefinedAlias("x", YAMLMark(line: 1, column: 11)))
    }

    @Test func aliasBombsAreRefusedWithoutExpansion() throws {
        // "Billion laughs": 10 levels of 10 aliases each, 10^10 nodes once expanded, in 700 bytes.
        var yaml = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            yaml += "l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let clock = ContinuousClock()
        let start = clock.now
        #expect(failure(yaml) == .tooManyNodes(limit: 1 << 20))
        #expect(clock.now - start < .seconds(1))
        #expect(failure("a: &a [x, x]\nb: [*a, *a]\n", YAMLComposer(maximumNesting: 64, maximumNodes: 8)) == .tooManyNodes(limit: 8))
        #expect(try composer.compose("a: &a [x, x]\nb: [*a, *a]\n") != nil)  // 10 nodes expanded
        #expect(WebConfigParser.maximumNodes == 1 << 20)
        #expect(throws: ConfigurationError("web config: more than 1048576 YAML nodes once aliases are expanded")) {
            try WebConfigParser.parse(yaml, directory: "")
        }
    }

    @Test func nestingCountsThroughAliases() throws {
        // Each line nests 40 deep, under the text's bound; the alias makes it 81 levels.
        let deep = String(repeating: "[", count: 40) + "x" + String(repeating: "]", count: 40)
        let yaml = "a: &a \(deep)\nb: \(String(repeating: "[", count: 40))*a\(String(repeating: "]", count: 40))\n"
        #expect(WebConfigParser.nestingBound(yaml) <= WebConfigParser.maximumNesting)
        #expect(failure(yaml) == .nestedTooDeep(limit: 64))
        #expect(throws: ConfigurationError("web config: nested deeper than 64 levels (the schema has 4)")) {
            try WebConfigParser.parse(yaml, directory: "")
        }
        #expect(try composer.compose("a: &a \(deep)\nb: [[*a]]\n") != nil)  // 43 levels
        let shallow = YAMLComposer(maximumNesting: 3, maximumNodes: 100)
        #expect(try shallow.compose("[[[x]]]") != nil)
        #expect(failure("[[[[x]]]]", shallow) == .nestedTooDeep(limit: 3))
    }

    static let implicitTags: [(String, YAMLScalar.Tag)] = [
        ("", .null), ("~", .null), ("null", .null), ("Null", .null), ("NULL", .null), ("nULL", .other),
        ("yes", .bool), ("No", .bool), ("TRUE", .bool), ("on", .bool), ("OFF", .bool), ("y", .other), ("tRUE", .other),
        ("0", .int), ("-0", .int), ("017", .int), ("0o17", .int), ("0o", .other), ("08", .other), ("0b101", .int),
        ("0b2", .other), ("0x1F", .int), ("0X1F", .other), ("0xfg", .other), ("+0x_1", .int), ("1_000", .int),
        ("1:30", .int), ("1:60", .other), ("0:30", .other), ("1:2:x", .other), ("1.5", .other), (".inf", .other),
        ("2001-12-14", .other), ("<<", .other), ("12abc", .other), ("٣", .other),
    ]

    @Test(arguments: implicitTags)
    func plainScalarsResolveAsYAML11(text: String, tag: YAMLScalar.Tag) throws {
        guard case .mapping(let pairs, _)? = try composer.compose("k: \(text)\n"), case .scalar(let value) = pairs[0].value else {
            Issue.record("no scalar for \(text)")
            return
        }
        #expect(value.tag == tag, "\(text)")
        #expect(value.style == .plain)
    }

    @Test func quotedScalarsAreStringsAndExplicitTagsWin() throws {
        #expect(try scalar("'null'").tag == .other && scalar("\"true\"").tag == .other && scalar("|\n  12\n").tag == .other)
        #expect(try scalar("'x'").style == .singleQuoted && scalar("\"x\"").style == .doubleQuoted)
        #expect(try scalar("|\n  x\n").style == .literal && scalar(">\n  x\n").style == .folded)
        #expect(try scalar("!!int '12'").tag == .int && scalar("!!null x").tag == .null && scalar("!!bool \"on\"").tag == .bool)
        #expect(try scalar("! 12").tag == .other && scalar("!!str 12").tag == .other && scalar("!mine 12").tag == .other)
        #expect(try scalar("\"a\\0b\"").text.unicodeScalars.map(\.value) == [0x61, 0, 0x62])  // NUL inside a scalar
    }

    @Test func integersAsTheyWereRead() throws {
        let values: [(String, Int?)] = [
            ("0", 0), ("12", 12), ("-12", -12), ("+12", 12), ("1_000", 1000), ("0x1F", 31), ("-0x10", -16), ("0b101", 5),
            ("0o17", 15), ("017", 15), ("1:30", 90), ("-1:30:00", -5400), ("9223372036854775807", .max),
            ("9223372036854775808", nil), ("-0", nil), ("abc", nil), ("1::2", 62),
            ("99999999999999:0:0:0:0", nil),  // base 60 overflow: nil, where Yams trapped
        ]
        for (text, value) in values {
            #expect(try scalar(text).integer == value, "\(text)")
        }
        #expect(try scalar("'12'").integer == nil)  // plain scalars only
    }

    @Test func libyamlErrorsAreOneLineWithPlaces() throws {
        let flow = try #require(failure("tls_server_config: ["))
        // libyaml ends the stream on a line of its own.
        #expect(flow.description == "did not find expected node content at line 2, column 1; while parsing a flow node at line 2, column 1")
        let control = try #require(failure("a: b\u{1}\n"))
        #expect(control.description == "control characters are not allowed (U+1) at line 1, column 5", "\(control)")
        for bad in ["a: [", "a: 'x", "a:\n- b\nc", "\t- x", "a: *", "{a: b: c}"] {
            let error = try #require(failure(bad), "\(bad.debugDescription)")
            #expect(!error.description.contains("\n") && error.description.contains(" at line "), "\(error)")
        }
    }
}
