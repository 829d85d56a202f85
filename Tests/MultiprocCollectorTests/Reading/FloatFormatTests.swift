import Testing
import MultiprocCollector

// MARK: - Float formatting against Python's floatToGoString and repr

@Suite struct FloatFormatTests {

    /// `Fixtures/floats.tsv` (scripts/golden/floats.py): bit pattern, floatToGoString, repr.
    struct Recorded {
        var bits: UInt64
        var goString: String
        var repr: String
        var value: Double { Double(bitPattern: bits) }
    }

    static func recorded() throws -> [Recorded] {
        try Fixtures.dataLines("floats.tsv").map { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 3, fields[0].count == 16, let bits = UInt64(fields[0], radix: 16) else {
                throw FixtureError.malformedLine(String(line))
            }
            return Recorded(bits: bits, goString: String(fields[1]), repr: String(fields[2]))
        }
    }

    @Test func matchesPythonOnRecordedValues() throws {
        let values = try Self.recorded()
        #expect(values.count >= 10_000, "floats.tsv holds only \(values.count) values")
        var failures: [String] = []
        for v in values {
            let go = FloatFormat.goString(v.value)
            let repr = FloatFormat.pythonRepr(v.value)
            if go != v.goString { failures.append("\(String(v.bits, radix: 16)): goString \(go), Python \(v.goString)") }
            if repr != v.repr { failures.append("\(String(v.bits, radix: 16)): pythonRepr \(repr), Python \(v.repr)") }
        }
        #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.prefix(20).joined(separator: "; "))")
    }

    /// A readable table of the rules (expected strings printed by Python 3.11, prometheus_client 0.26.0).
    @Test(arguments: [
        (1.0, "1.0"), (-0.0, "-0.0"), (0.1, "0.1"), (123456.7, "123456.7"), (999999.0, "999999.0"),
        (1_000_000.0, "1e+06"), (1234567.0, "1.234567e+06"), (12345678.5, "1.23456785e+07"),
        (-12345678.5, "-12345678.5"), (1e16, "1e+16"), (9999999999999998.0, "9.999999999999998e+15"),
        (1e-4, "0.0001"), (1e-5, "1e-05"), (Double.leastNonzeroMagnitude, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
        (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"), (Double.nan, "NaN"), (9007199254740993.0, "9.007199254740992e+15"),
    ])
    func goStringExamples(value: Double, expected: String) {
        #expect(FloatFormat.goString(value) == expected)
    }
}

enum FixtureError: Error {
    case malformedLine(String)
}
