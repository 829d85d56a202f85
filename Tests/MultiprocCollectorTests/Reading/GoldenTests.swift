import Foundation
import Testing
import MultiprocCollector

// MARK: - Golden tests: our output against what prometheus_client 0.26.0 served

/// One recorded scrape of one fixture case.
struct GoldenScrape: Sendable, CustomTestStringConvertible {
    var caseName: String
    var scrape: RecordedScrape
    var testDescription: String { "\(caseName)/\(scrape.slug)" }

    static let all: [GoldenScrape] = Fixtures.caseNames.flatMap { name in
        let index = (try? Fixtures.decode([RecordedScrape].self, from: Fixtures.url(name, "expected", "index.json"))) ?? []
        return index.map { GoldenScrape(caseName: name, scrape: $0) }
    }
}

/// A fixture case directory: `db/` plus `expected/`.
struct GoldenCase: Sendable, CustomTestStringConvertible {
    var name: String
    var testDescription: String { name }
    var isCorrupt: Bool { name.hasPrefix("corrupt_") }

    static let all: [GoldenCase] = Fixtures.caseNames.map(GoldenCase.init)

    var setup: CaseSetup? {
        get throws {
            let url = Fixtures.url(name, "expected", "setup.json")
            guard FileManager.default.fileExists(atPath: url.path) else { return nil }
            return try Fixtures.decode(CaseSetup.self, from: url)
        }
    }

    /// A private copy of `db/` (with the setup applied): the fixtures are never touched.
    func scratchCopy() throws -> ScratchDirectory {
        try ScratchDirectory(copying: Fixtures.url(name, "db"), setup: setup)
    }
}

/// Every fixture case × every Accept header Python was asked with. Two cases isolate real
/// mismatches found while building this suite, since fixed, and keep them fixed:
/// `histogram_nan_bound` (buckets cumulated in the order CPython's `list.sort` leaves a NaN
/// bound, `PythonListSort`) and `crafted_empty_sample_name` (an empty sample name under
/// OpenMetrics with allow-utf-8).
@Suite struct GoldenTests {

    static let requiredCases = [
        "kitchen_sink", "dead_and_live_pids", "histogram_custom_buckets", "utf8_names", "special_floats",
        "gauge_modes", "empty_directory", "corrupt_empty_file", "corrupt_used_beyond_file",
        "corrupt_used_below_header", "corrupt_key_length_past_used", "corrupt_negative_key_length",
        "corrupt_invalid_utf8_key", "corrupt_key_not_json", "corrupt_key_three_elements",
        "corrupt_labels_not_object", "corrupt_label_value_number", "corrupt_le_not_number",
        "corrupt_non_metric_names", "release_0_9_0", "release_0_16_0", "mixed_releases",
    ]

    /// Guards the parameterized tests below against silently running zero cases.
    @Test func fixturesArePresent() throws {
        let missing = Self.requiredCases.filter { !Fixtures.caseNames.contains($0) }
        #expect(missing.isEmpty, "fixture cases missing under \(Fixtures.root.path): \(missing)")
        for name in Fixtures.caseNames {
            let index = try Fixtures.decode([RecordedScrape].self, from: Fixtures.url(name, "expected", "index.json"))
            // Old releases served text 0.0.4 only; corrupt cases keep three formats.
            let least = name.hasPrefix("release_") ? 1 : GoldenCase(name: name).isCorrupt ? 3 : 18
            #expect(index.count >= least, "\(name): \(index.count) scrapes")
        }
        #expect(GoldenScrape.all.count >= 7 * 18, "only \(GoldenScrape.all.count) recorded scrapes")
    }

    /// (a) content type and (b) body, family by family and line by line, like Python's.
    @Test(arguments: GoldenScrape.all)
    func bodyMatchesPython(_ golden: GoldenScrape) throws {
        let testCase = GoldenCase(name: golden.caseName)
        let scratch = try testCase.scratchCopy()
        defer { scratch.remove() }

        let collector = try DirectoryCollector(directory: scratch.path)
        let expectedBody = Fixtures.url(golden.caseName, "expected", golden.scrape.slug + ".body")
        let body = try golden.scrape.expectMatches(collector.collect(), expectedBody: expectedBody)

        // A second scrape of the unchanged directory goes through the cache: same bytes.
        let format = ExpositionFormat.negotiate(accept: golden.scrape.accept)
        #expect(collector.collect().body(format) == body, "second scrape differs from the first")
    }

    /// (c) the (file, reason) problems: exactly problems.json for corrupt cases, none otherwise.
    @Test(arguments: GoldenCase.all)
    func problemsAreReported(_ testCase: GoldenCase) throws {
        let scratch = try testCase.scratchCopy()
        defer { scratch.remove() }
        let snapshot = try DirectoryCollector(directory: scratch.path).collect()
        let actual = Set(snapshot.problems.map { ExpectedProblem(file: $0.file, reason: $0.reason.rawValue) })
        let expected: Set<ExpectedProblem>
        if testCase.isCorrupt {
            expected = Set(try Fixtures.decode([ExpectedProblem].self, from: Fixtures.url(testCase.name, "expected", "problems.json")))
            #expect(!expected.isEmpty, "a corrupt case must expect at least one problem")
        } else {
            expected = []
        }
        #expect(actual == expected, "problems: \(snapshot.problems)")
    }
}
