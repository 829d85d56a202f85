import Foundation
import MultiprocCollector
import Testing

// MARK: - Comparing bodies up to the order of families and samples

/// A body as a multiset of families: each family is its header lines (the `# HELP` line and
/// the `#` lines right after it), compared exactly, and its sample lines, compared as a sorted
/// array. Only the order of families and of samples within a family is ignored: Python emits
/// families in first-seen file order, we emit them sorted by name.
///
/// Mirrors `normalize_body` in `scripts/golden/record.py` (used by `scripts/conformance.py`).
struct ExpositionShape: Equatable, CustomStringConvertible {

    struct Family: Equatable {
        var header: [[UInt8]]
        var samples: [[UInt8]]

        static func precedes(_ a: Family, _ b: Family) -> Bool {
            if a.header != b.header { return a.header.lexicographicallyPrecedes(b.header, by: ExpositionShape.linePrecedes) }
            return a.samples.lexicographicallyPrecedes(b.samples, by: ExpositionShape.linePrecedes)
        }
    }

    enum Malformed: Error, CustomStringConvertible {
        case missingEOF
        case eofInside
        case missingFinalNewline

        var description: String {
            switch self {
            case .missingEOF: return "OpenMetrics body does not end with \"# EOF\\n\""
            case .eofInside: return "\"# EOF\" before the end of the body"
            case .missingFinalNewline: return "body does not end with a newline"
            }
        }
    }

    let families: [Family]

    /// Splits `body`; an OpenMetrics body must end with exactly one `# EOF` line, which is removed.
    init(_ body: [UInt8], openMetrics: Bool) throws(Malformed) {
        var body = body[...]
        let eof = Array("# EOF\n".utf8)
        if openMetrics {
            guard body.count >= eof.count, body.suffix(eof.count).elementsEqual(eof) else { throw .missingEOF }
            body = body.dropLast(eof.count)
        }
        if let last = body.last, last != UInt8(ascii: "\n") { throw .missingFinalNewline }
        var lines = body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
        if !lines.isEmpty { lines.removeLast() }  // after the final newline
        if lines.contains(Array("# EOF".utf8)) { throw .eofInside }

        var families: [Family] = []
        let help = Array("# HELP ".utf8)
        for line in lines {
            if line.starts(with: help) || families.isEmpty {
                families.append(Family(header: [line], samples: []))
            } else if line.first == UInt8(ascii: "#"), families[families.count - 1].samples.isEmpty {
                families[families.count - 1].header.append(line)
            } else {
                families[families.count - 1].samples.append(line)
            }
        }
        self.families = families
            .map { Family(header: $0.header, samples: $0.samples.sorted(by: Self.linePrecedes)) }
            .sorted(by: Family.precedes)
    }

    static func linePrecedes(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.lexicographicallyPrecedes(b) }

    var description: String { Self.render(families).joined(separator: "\n") }

    /// What differs, for a failure message: families present only on one side (at most `limit` each).
    func difference(from expected: ExpositionShape, limit: Int = 3) -> String {
        var unmatched = families
        var missing: [Family] = []
        for family in expected.families {
            if let i = unmatched.firstIndex(of: family) { unmatched.remove(at: i) } else { missing.append(family) }
        }
        var out = ["expected (Python) families not produced: \(missing.count); produced families not expected: \(unmatched.count)"]
        if !missing.isEmpty { out.append("-- expected:"); out += Self.render(Array(missing.prefix(limit))) }
        if !unmatched.isEmpty { out.append("-- actual:"); out += Self.render(Array(unmatched.prefix(limit))) }
        return out.joined(separator: "\n")
    }

    private static func render(_ families: [Family]) -> [String] {
        families.flatMap { family in
            family.header.map { String(decoding: $0, as: UTF8.self).debugDescription }
                + family.samples.map { "  " + String(decoding: $0, as: UTF8.self).debugDescription }
        }
    }
}

// MARK: - The check shared by the golden and mark-dead tests

extension RecordedScrape {
    /// Expects the negotiated content type and `snapshot`'s body to be what Python served
    /// (`expectedBody`), up to the order of families and samples. Returns the body.
    @discardableResult
    func expectMatches(_ snapshot: Snapshot, expectedBody: URL,
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
        let accept = accept ?? "(none)"
        let format = ExpositionFormat.negotiate(accept: self.accept)
        #expect(format.contentType == contentType, "Accept: \(accept)", sourceLocation: sourceLocation)
        let body = snapshot.body(format)
        let openMetrics = contentType.hasPrefix("application/openmetrics-text")
        let expected = try ExpositionShape(try Fixtures.bytes(expectedBody), openMetrics: openMetrics)
        let actual = try ExpositionShape(body, openMetrics: openMetrics)
        // Compared outside #expect so a failure prints the difference, not both whole bodies.
        let matches = actual == expected
        #expect(matches, "body differs from Python's for \(slug), Accept: \(accept)\n\(actual.difference(from: expected))",
                sourceLocation: sourceLocation)
        return body
    }
}
