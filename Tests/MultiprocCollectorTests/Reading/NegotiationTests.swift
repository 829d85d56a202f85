import Foundation
import Testing
import MultiprocCollector

// MARK: - Content negotiation against Python's choose_encoder

/// One line of `Fixtures/negotiation.tsv` (scripts/golden/negotiation.py).
///
/// Headers for which Python raises (a version it cannot compare, such as `1.0.0-rc`) are not
/// in the table: they are listed in its comments as documented deviations (we pass such a
/// media range over instead of failing the scrape).
struct NegotiationCase: Sendable, CustomTestStringConvertible {
    var accept: String
    var contentType: String
    /// `text` or `openmetrics`.
    var syntax: String
    var escaping: String

    var testDescription: String { accept.debugDescription }

    static let all: [NegotiationCase] = (try? load()) ?? []

    static func load() throws -> [NegotiationCase] {
        try Fixtures.dataLines("negotiation.tsv").map { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4 else { throw FixtureError.malformedLine(String(line)) }
            // The header is a JSON string: it may hold tabs and any Unicode.
            let accept = try JSONDecoder().decode([String].self, from: Data("[\(fields[0])]".utf8))[0]
            return NegotiationCase(accept: accept, contentType: fields[1], syntax: fields[2], escaping: fields[3])
        }
    }
}

@Suite struct NegotiationTests {

    @Test func tableIsPresent() throws {
        #expect(try NegotiationCase.load().count >= 40)
    }

    @Test(arguments: NegotiationCase.all)
    func choosesWhatPythonChooses(_ c: NegotiationCase) {
        let format = ExpositionFormat.negotiate(accept: c.accept)
        #expect(format.contentType == c.contentType)
        #expect((format.syntax == .openMetrics ? "openmetrics" : "text") == c.syntax)
        #expect(format.escaping.rawValue == c.escaping)
    }

    @Test func noHeaderIsTextFormat004() {
        #expect(ExpositionFormat.negotiate(accept: nil) == .prometheusText004)
    }
}
