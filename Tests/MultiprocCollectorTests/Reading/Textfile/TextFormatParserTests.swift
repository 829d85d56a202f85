import Testing
@testable import MultiprocCollector

/// The text format parser, case by case: what `expfmt.TextParser` (node_exporter, promtool,
/// the Pushgateway) accepts is accepted, what it refuses is refused at the same line, and
/// what it would silently drop or rewrite is refused with a reason.
@Suite struct TextFormatParserTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var input: String
        /// Accepted: the families, rendered in text 0.0.4 after ``TextfileFamily/build(_:)``.
        /// Refused: nil, and `line` says where.
        var rendered: String?
        var line: Int?
        var testDescription: String { name }

        static func accepts(_ name: String, _ input: String, _ rendered: String) -> Case {
            Case(name: name, input: input, rendered: rendered)
        }

        static func refuses(_ name: String, _ input: String, line: Int) -> Case {
            Case(name: name, input: input, rendered: nil, line: line)
        }
    }

    static let accepted: [Case] = [
        .accepts("empty file", "", ""),
        .accepts("blank lines and comments only", "\n  \n# a comment\n#\n# HELP\n# TYPE x\n", ""),
        .accepts("untyped sample without HELP", "x 1\n", "# HELP x \n# TYPE x untyped\nx 1.0\n"),
        .accepts("counter named _total", "# HELP a_total Help.\n# TYPE a_total counter\na_total{k=\"v\"} 3\n",
                 "# HELP a_total Help.\n# TYPE a_total counter\na_total{k=\"v\"} 3.0\n"),
        .accepts("counter without _total is served untyped", "# TYPE a counter\na 3\n", "# HELP a \n# TYPE a untyped\na 3.0\n"),
        .accepts("TYPE in any case", "# TYPE g GaUgE\ng 1\n", "# HELP g \n# TYPE g gauge\ng 1.0\n"),
        .accepts("#HELP without a blank after #", "#HELP g doc\n# TYPE g gauge\ng 1\n", "# HELP g doc\n# TYPE g gauge\ng 1.0\n"),
        .accepts("empty HELP kept as empty", "# HELP g \n# TYPE g gauge\ng 1\n", "# HELP g \n# TYPE g gauge\ng 1.0\n"),
        .accepts("HELP escapes", "# HELP g a\\\\b\\nc\\\"d\n# TYPE g gauge\ng 1\n", "# HELP g a\\\\b\\nc\"d\n# TYPE g gauge\ng 1.0\n"),
        .accepts("label escapes, trailing comma, blanks", "g { b = \"x\\\"y\\\\z\\n\" , a=\"\",} 1\n",
                 "# HELP g \n# TYPE g untyped\ng{a=\"\",b=\"x\\\"y\\\\z\\n\"} 1.0\n"),
        .accepts("labels sorted by name", "g{b=\"1\",a=\"2\"} 1\n", "# HELP g \n# TYPE g untyped\ng{a=\"2\",b=\"1\"} 1.0\n"),
        .accepts("leading blanks and tabs", " \t g 1\n", "# HELP g \n# TYPE g untyped\ng 1.0\n"),
        .accepts("tab between name and value", "g\t1\n", "# HELP g \n# TYPE g untyped\ng 1.0\n"),
        .accepts("special and Go float spellings", "a{v=\"1\"} +Inf\na{v=\"2\"} -inf\na{v=\"3\"} NaN\na{v=\"4\"} Infinity\na{v=\"5\"} 1e3\na{v=\"6\"} .5\na{v=\"7\"} 1.\na{v=\"8\"} -0\na{v=\"9\"} 1e-400\n",
                 "# HELP a \n# TYPE a untyped\na{v=\"1\"} +Inf\na{v=\"2\"} -Inf\na{v=\"3\"} NaN\na{v=\"4\"} +Inf\na{v=\"5\"} 1000.0\na{v=\"6\"} 0.5\na{v=\"7\"} 1.0\na{v=\"8\"} -0.0\na{v=\"9\"} 0.0\n"),
        .accepts("last line of blanks without newline", "g 1\n   ", "# HELP g \n# TYPE g untyped\ng 1.0\n"),
        .accepts("samples of one family apart", "a 1\nb 2\na{x=\"1\"} 3\n",
                 "# HELP a \n# TYPE a untyped\na 1.0\na{x=\"1\"} 3.0\n# HELP b \n# TYPE b untyped\nb 2.0\n"),
        .accepts("histogram", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 3.5\n",
                 "# HELP h \n# TYPE h histogram\nh_bucket{le=\"1\"} 1.0\nh_bucket{le=\"+Inf\"} 2.0\nh_count 2.0\nh_sum 3.5\n"),
        .accepts("summary with quantiles", "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_count 2\ns_sum 3\n",
                 "# HELP s \n# TYPE s summary\ns{quantile=\"0.5\"} 1.0\ns_count 2.0\ns_sum 3.0\n"),
        .accepts("_bucket before its histogram is typed is a family of its own", "h_bucket{le=\"1\"} 1\n# TYPE h histogram\nh_count 1\n",
                 "# HELP h_bucket \n# TYPE h_bucket untyped\nh_bucket{le=\"1\"} 1.0\n# HELP h \n# TYPE h histogram\nh_count 1.0\n"),
        .accepts("a counter's _created gauge goes back into it", "# HELP c_total D.\n# TYPE c_total counter\nc_total{a=\"1\"} 1\nc_total{a=\"2\"} 2\n# HELP c_created D.\n# TYPE c_created gauge\nc_created{a=\"1\"} 10\nc_created{a=\"2\"} 20\n",
                 "# HELP c_total D.\n# TYPE c_total counter\nc_total{a=\"1\"} 1.0\nc_total{a=\"2\"} 2.0\n# HELP c_created D.\n# TYPE c_created gauge\nc_created{a=\"1\"} 10.0\nc_created{a=\"2\"} 20.0\n"),
        .accepts("a _created gauge with another HELP stays a gauge", "# HELP c_total D.\n# TYPE c_total counter\nc_total 1\n# HELP c_created E.\n# TYPE c_created gauge\nc_created 10\n",
                 "# HELP c_total D.\n# TYPE c_total counter\nc_total 1.0\n# HELP c_created E.\n# TYPE c_created gauge\nc_created 10.0\n"),
        .accepts("quoted UTF-8 names, as write_to_textfile writes them", "# HELP \"my.gauge\" D.\n# TYPE \"my.gauge\" gauge\n{\"my.gauge\",\"a.b\"=\"1\"} 5\n",
                 "# HELP my_gauge D.\n# TYPE my_gauge gauge\nmy_gauge{a_b=\"1\"} 5.0\n"),
        .accepts("metric name after labels inside braces", "{a=\"1\",g} 2\n", "# HELP g \n# TYPE g untyped\ng{a=\"1\"} 2.0\n"),
        .accepts("quoted name outside braces", "\"g\" 2\n", "# HELP g \n# TYPE g untyped\ng 2.0\n"),
        .accepts("HELP for an untyped family after its samples", "g 1\n# HELP g late\n", "# HELP g late\n# TYPE g untyped\ng 1.0\n"),
        .accepts("families with no sample are dropped", "# HELP a doc\n# TYPE a gauge\n# TYPE b counter\nc 1\n", "# HELP c \n# TYPE c untyped\nc 1.0\n"),
        .accepts("NaN bucket population, -0 count", "# TYPE h histogram\nh_bucket{le=\"1\"} NaN\nh_count -0\n",
                 "# HELP h \n# TYPE h histogram\nh_bucket{le=\"1\"} NaN\nh_count -0.0\n"),
        .accepts("le and quantile are plain labels of gauges", "g{le=\"x\",quantile=\"y\"} 1\n", "# HELP g \n# TYPE g untyped\ng{le=\"x\",quantile=\"y\"} 1.0\n"),
        .accepts("non-ASCII in HELP and label values", "# HELP g é\ng{a=\"ü\\n\"} 1\n", "# HELP g é\n# TYPE g untyped\ng{a=\"ü\\n\"} 1.0\n"),
    ]

    static let refused: [Case] = [
        .refuses("no newline at the end", "g 1", line: 1),
        .refuses("comment without newline at the end", "g 1\n# end", line: 2),
        .refuses("CRLF line endings", "g 1\r\n", line: 1),
        .refuses("trailing blank after the value", "g 1 \n", line: 1),
        .refuses("no value", "g\n", line: 1),
        .refuses("value that is no float", "g 0x10\n", line: 1),
        .refuses("hex float", "g 0x1p3\n", line: 1),
        .refuses("underscore in a float", "g 1_000\n", line: 1),
        .refuses("overflowing float", "g 1e400\n", line: 1),
        .refuses("signed NaN", "g +NaN\n", line: 1),
        .refuses("spurious text after a timestamp", "g 1 2 3\n", line: 1),
        .refuses("timestamp that is no integer", "g 1 2.5\n", line: 1),
        .refuses("second HELP", "# HELP g a\n# HELP g b\ng 1\n", line: 2),
        .refuses("second TYPE", "# TYPE g gauge\n# TYPE g gauge\n", line: 2),
        .refuses("TYPE after samples", "g 1\n# TYPE g gauge\n", line: 2),
        .refuses("TYPE for a histogram's _count names the histogram", "# TYPE h histogram\n# TYPE h_count gauge\n", line: 2),
        .refuses("unknown TYPE", "# TYPE g info\n", line: 1),
        .refuses("TYPE with a trailing blank", "# TYPE g gauge \n", line: 1),
        .refuses("gauge histogram", "# TYPE g gaugehistogram\n", line: 1),
        .refuses("invalid metric name in a comment", "# HELP 9g doc\n", line: 1),
        .refuses("invalid metric name", "9g 1\n", line: 1),
        .refuses("empty braces", "{} 1\n", line: 1),
        .refuses("two names in braces", "{a,b} 1\n", line: 1),
        .refuses("unclosed braces", "g{a=\"1\" 1\n", line: 1),
        .refuses("unclosed label value", "g{a=\"1} 1\n", line: 1),
        .refuses("label value without quotes", "g{a=1} 1\n", line: 1),
        .refuses("invalid escape in a label value", "g{a=\"\\t\"} 1\n", line: 1),
        .refuses("invalid escape in HELP", "# HELP g \\t\n", line: 1),
        .refuses("duplicate label name", "g{a=\"1\",a=\"2\"} 1\n", line: 1),
        .refuses("__name__ label", "g{__name__=\"x\"} 1\n", line: 1),
        .refuses("label names one escaping writes alike", "g 1\ng{\"a.b\"=\"1\",a_b=\"2\"} 1\n", line: 2),
        .refuses("label value not UTF-8", "g{a=\"\u{FF}\"} 1\n".replacingOccurrences(of: "\u{FF}", with: "\\xff"), line: 1),
        .refuses("histogram sample without suffix", "# TYPE h histogram\nh{le=\"1\"} 1\n", line: 2),
        .refuses("histogram bucket without le", "# TYPE h histogram\nh_bucket 1\n", line: 2),
        .refuses("histogram bucket with a non-numeric le", "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", line: 2),
        .refuses("histogram bucket with a NaN le", "# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\n", line: 2),
        .refuses("negative bucket", "# TYPE h histogram\nh_bucket{le=\"1\"} -1\n", line: 2),
        .refuses("negative histogram count", "# TYPE h histogram\nh_count -2\n", line: 2),
        .refuses("le on a histogram's _count", "# TYPE h histogram\nh_count{le=\"1\"} 1\n", line: 2),
        .refuses("summary sample without quantile", "# TYPE s summary\ns 1\n", line: 2),
        .refuses("quantile on a summary's _sum", "# TYPE s summary\ns_sum{quantile=\"0.5\"} 1\n", line: 2),
        .refuses("a later syntax error refuses the whole file", "a 1\nb 2\nc{\n", line: 3),
    ]

    @Test(arguments: accepted)
    func accepts(_ c: Case) throws {
        let families = TextfileFamily.build(try TextFormatParser.parse(Array(c.input.utf8)))
        var out: [UInt8] = []
        ExpositionWriter.write(families.map(\.family), format: .prometheusText004, into: &out)
        #expect(String(decoding: out, as: UTF8.self) == c.rendered)
    }

    @Test(arguments: refused)
    func refuses(_ c: Case) {
        // "\xff" in a case's text stands for that byte (a Swift string cannot hold it).
        var bytes = Array(c.input.utf8)
        if let range = c.input.range(of: "\\xff") {
            let at = c.input.utf8.distance(from: c.input.startIndex, to: range.lowerBound)
            bytes.replaceSubrange(at..<(at + 4), with: [0xFF])
        }
        #expect {
            try TextFormatParser.parse(bytes)
        } throws: { error in
            guard case .syntax(let syntax) = error as? TextFormatParser.Failure else { return false }
            return syntax.line == c.line
        }
    }

    /// The text format writes a counter's `_created` as a gauge of its own; back in its family
    /// each one follows the samples of its label set, where prometheus_client keeps it (what
    /// OpenMetrics then shows). A `_created` gauge with another HELP is a gauge of its own.
    @Test func createdGaugesGoBackIntoTheirFamily() throws {
        let text = """
            # HELP c_total D.
            # TYPE c_total counter
            c_total{a="1"} 1
            c_total{a="2"} 2
            # HELP c_created D.
            # TYPE c_created gauge
            c_created{a="2"} 20
            c_created{a="1"} 10
            # HELP h H.
            # TYPE h histogram
            h_bucket{le="+Inf"} 1
            h_count 1
            h_sum 2
            # HELP h_created Other.
            # TYPE h_created gauge
            h_created 5

            """
        let families = TextfileFamily.build(try TextFormatParser.parse(Array(text.utf8))).map(\.family)
        let one = [Label(name: "a", value: "1")], two = [Label(name: "a", value: "2")]
        #expect(families.map(\.name) == ["c", "h", "h_created"])
        #expect(families[0] == MetricFamily(name: "c", type: .counter, help: "D.", samples: [
            Sample(name: "c_total", labels: one, value: 1), Sample(name: "c_created", labels: one, value: 10),
            Sample(name: "c_total", labels: two, value: 2), Sample(name: "c_created", labels: two, value: 20),
        ]))
        #expect(families[2].type == .gauge && families[1].samples.count == 3)
    }

    @Test func timestampsRefuseTheFileAfterTheSyntaxIsChecked() {
        #expect(throws: TextFormatParser.Failure.timestamp(line: 2)) { try TextFormatParser.parse(Array("a 1\nb 2 1700000000000\nc 3 -5\n".utf8)) }
        // A syntax error anywhere is reported first, as node_exporter reports it.
        #expect(throws: TextFormatParser.Failure.syntax(TextFormatError(line: 2, message: "expected float as value, got \"x\""))) {
            try TextFormatParser.parse(Array("a 1 5\nb x\n".utf8))
        }
    }

    @Test func goNumbers() {
        for (text, value) in [("1", 1.0), ("-1.5e3", -1500), ("+.5", 0.5), ("INF", .infinity), ("-infinity", -.infinity), ("1e308", 1e308)] {
            #expect(GoNumber.float(Array(text.utf8)[...]) == value, "\(text)")
        }
        #expect(GoNumber.float(Array("nan".utf8)[...])?.isNaN == true)
        for text in ["", ".", "e5", "1e", "1e+", "--1", "inf1", "infin", "-nan", "1_0", "0x1", "1p3", "1.8e308", "1,5", " 1"] {
            #expect(GoNumber.float(Array(text.utf8)[...]) == nil, "\(text)")
        }
        #expect(GoNumber.int64(Array("-9223372036854775808".utf8)[...]) == .min)
        #expect(GoNumber.int64(Array("+9223372036854775807".utf8)[...]) == .max)
        for text in ["", "-", "9223372036854775808", "1.0", "1e3", "0x10", "1_0"] {
            #expect(GoNumber.int64(Array(text.utf8)[...]) == nil, "\(text)")
        }
    }
}
