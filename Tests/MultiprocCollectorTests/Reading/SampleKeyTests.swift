import Testing
@testable import MultiprocCollector

@Suite struct SampleKeyTests {
    private func decode(_ text: String) -> Result<SampleKey, KeyDecodingError> {
        Array(text.utf8).withUnsafeBytes { raw in Result { () throws(KeyDecodingError) in try SampleKey.decode(raw) } }
    }

    private func decodeBytes(_ bytes: [UInt8]) -> Result<SampleKey, KeyDecodingError> {
        bytes.withUnsafeBytes { raw in Result { () throws(KeyDecodingError) in try SampleKey.decode(raw) } }
    }

    private func decodeAnyShape(_ text: String) -> Result<(SampleKey, KeyShape), KeyDecodingError> {
        Array(text.utf8).withUnsafeBytes { raw in Result { () throws(KeyDecodingError) in try SampleKey.decodeAnyShape(raw) } }
    }

    @Test func threeElementKeysOfReleasesBefore016GetTheirHelp() throws {
        for text in [#"["m", "m_total", {"b": "2", "a": "1"}]"#, #" [ "m" , "m_total" , { "b" : "2" , "a" : "1" } ] "#] {
            let (key, shape) = try decodeAnyShape(text).get()
            #expect(shape == .labelsWithoutHelp)
            #expect(key.help == "Multiprocess metric")
            #expect(key.labels == [Label(name: "a", value: "1"), Label(name: "b", value: "2")])
        }
        // Today's decoder refuses them: a file of today must not hold one.
        #expect(throws: KeyDecodingError.self) { try decode(#"["m", "m_total", {}]"#).get() }
    }

    @Test func labelListsOfReleasesBefore04() throws {
        let (key, shape) = try decodeAnyShape(#"["m", "m_total", ["z", "a"], ["1", "\u00e9"]]"#).get()
        #expect(shape == .labelLists)
        #expect(key.help == "Multiprocess metric")
        #expect(key.labels == [Label(name: "a", value: "é"), Label(name: "z", value: "1")])
        #expect(try decodeAnyShape(#"["m", "m", [], []]"#).get().0.labels.isEmpty)
        for bad in [#"["m", "m", ["a"], []]"#, #"["m", "m", ["a"], [1]]"#, #"["m", "m", [1], ["a"]]"#,
                    #"["m", "m", ["a"], "x"]"#, #"["m", "m", ["a"]]"#, #"["m", "m", {}, ["a"]]"#] {
            guard case .failure(let error) = decodeAnyShape(bad) else { Issue.record("accepted \(bad)"); continue }
            #expect(error.reason == .unexpectedKeyShape, "\(bad)")
        }
    }

    @Test func everyShapeRoundTripsThroughPythonsEncoding() throws {
        let labels = [(name: "q", value: "x\"y\\z\n"), (name: "é", value: "🚀")]
        for shape in KeyShape.allCases {
            let text = PythonKeys.encode(metric: "m", sample: "m_sum", labels: labels, help: "H", shape: shape)
            let (key, decoded) = try decodeAnyShape(text).get()
            #expect(decoded == shape)
            #expect(key.labels.map(\.value) == ["x\"y\\z\n", "🚀"])
            #expect(key.help == (shape == .labelsAndHelp ? "H" : "Multiprocess metric"))
        }
    }

    @Test func pythonKey() throws {
        let key = try decode(#"["http_requests", "http_requests_total", {"method": "GET", "route": "/a"}, "Requests."]"#).get()
        #expect(key.metricName == "http_requests")
        #expect(key.sampleName == "http_requests_total")
        #expect(key.labels == [Label(name: "method", value: "GET"), Label(name: "route", value: "/a")])
        #expect(key.help == "Requests.")
    }

    @Test func escapesAndSurrogatePairs() throws {
        let key = try decode(#"["m\u00e9", "s", {"v": "q\"b\\n\nt\t\/\u0000", "e": "\ud83d\ude80"}, "h\u4e2d"]"#).get()
        #expect(key.metricName == "mé")
        #expect(key.labels[0] == Label(name: "e", value: "🚀"))
        #expect(key.labels[1] == Label(name: "v", value: "q\"b\\n\nt\t/\u{0}"))
        #expect(key.help == "h中")
    }

    @Test func labelsSortByCodePointAndKeepNormalizationDistinct() throws {
        // "é" precomposed (U+00E9) and "e" + combining acute are different names in Python.
        let key = try decode(#"["m", "m", {"\u00e9": "1", "e\u0301": "2", "Z": "3", "a": "4"}, ""]"#).get()
        #expect(key.labels.map(\.value) == ["3", "4", "2", "1"])
    }

    @Test func duplicateLabelNamesLastWins() throws {
        let key = try decode(#"["m", "m", {"a": "1", "a": "2"}, ""]"#).get()
        #expect(key.labels == [Label(name: "a", value: "2")])
    }

    @Test func whitespaceAndRawUTF8AreAccepted() throws {
        let key = try decode(" [ \"mé\" ,\"s\",{ } ,\"\" ] \n").get()
        #expect(key.metricName == "mé")
        #expect(key.labels.isEmpty)
    }

    @Test(arguments: [
        (#"["m", "s", {}]"#, FileProblem.Reason.unexpectedKeyShape),
        (#"["m", "s", [], ""]"#, .unexpectedKeyShape),
        (#"["m", "s", {"a": 1}, ""]"#, .unexpectedKeyShape),
        (#"["", "s", {}, ""]"#, .unexpectedKeyShape),
        (#"{"a": 1}"#, .unexpectedKeyShape),
        (#""abcd""#, .unexpectedKeyShape),
        (#"["m", "s", {}, "\ud800"]"#, .unexpectedKeyShape),
        (#"["m", "s", {}, "\udc00"]"#, .unexpectedKeyShape),
        (#"["m", "s", {}, ""] x"#, .invalidJSONKey),
        (#"["m", "s", {}, "]"#, .invalidJSONKey),
        (#"["m", "s", {}, "\x"]"#, .invalidJSONKey),
        (#"["m", "s", {a: "1"}, ""]"#, .invalidJSONKey),
        (#"["m", "s", {}, "" ,]"#, .invalidJSONKey),
        ("[\"m\", \"s\", {}, \"a\tb\"]", .invalidJSONKey),
        ("", .invalidJSONKey),
        ("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]", .invalidJSONKey),
    ] as [(String, FileProblem.Reason)])
    func rejected(_ text: String, _ reason: FileProblem.Reason) {
        guard case .failure(let error) = decode(text) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(error.reason == reason)
    }

    @Test func invalidUTF8() {
        guard case .failure(let error) = decodeBytes(Array(#"["m", "s", {}, ""#.utf8) + [0xC3, 0x28] + Array(#""]"#.utf8)) else {
            Issue.record("accepted invalid UTF-8")
            return
        }
        #expect(error == .invalidUTF8)
    }

    @Test func pythonJSONLiteralsAreValidJSONButWrongShape() {
        for text in [#"["m", "s", {"a": NaN}, ""]"#, #"["m", "s", {"a": -Infinity}, ""]"#, #"["m", "s", {"a": 1.5e3}, ""]"#] {
            guard case .failure(let error) = decode(text) else { Issue.record("accepted \(text)"); continue }
            #expect(error.reason == .unexpectedKeyShape, "\(text)")
        }
    }
}
