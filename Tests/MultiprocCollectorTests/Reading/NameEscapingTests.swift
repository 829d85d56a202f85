import Testing
@testable import MultiprocCollector

/// Name checks and escapes against values printed by prometheus_client 0.26.0
/// (`escape_metric_name`, `escape_label_name`, `_is_valid_legacy_*`), including the quirk that
/// Python's `$` accepts one trailing newline.
@Suite struct NameEscapingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var legacyMetric: Bool
        var legacyLabel: Bool
        /// metric, label escapes for allow-utf-8, underscores, dots, values
        var escapes: [(String, String)]
        var testDescription: String { name.debugDescription }
    }

    static let cases: [Case] = [
        Case(name: "http_requests_total", legacyMetric: true, legacyLabel: true, escapes: [
            ("http_requests_total", "http_requests_total"), ("http_requests_total", "http_requests_total"),
            ("http__requests__total", "http__requests__total"), ("http_requests_total", "http_requests_total")]),
        Case(name: "a:b", legacyMetric: true, legacyLabel: false, escapes: [
            ("a:b", "\"a:b\""), ("a:b", "a_b"), ("a:b", "a__b"), ("a:b", "U__a_3a_b")]),
        Case(name: "9lives", legacyMetric: false, legacyLabel: false, escapes: [
            ("\"9lives\"", "\"9lives\""), ("_lives", "_lives"), ("__lives", "__lives"), ("U___39_lives", "U___39_lives")]),
        Case(name: "my.metric", legacyMetric: false, legacyLabel: false, escapes: [
            ("\"my.metric\"", "\"my.metric\""), ("my_metric", "my_metric"), ("my_dot_metric", "my_dot_metric"),
            ("U__my_2e_metric", "U__my_2e_metric")]),
        Case(name: "métrique", legacyMetric: false, legacyLabel: false, escapes: [
            ("\"métrique\"", "\"métrique\""), ("m_trique", "m_trique"), ("m__trique", "m__trique"), ("U__m_e9_trique", "U__m_e9_trique")]),
        Case(name: "__reserved", legacyMetric: true, legacyLabel: false, escapes: [
            ("__reserved", "\"__reserved\""), ("__reserved", "__reserved"), ("____reserved", "____reserved"),
            ("__reserved", "U______reserved")]),
        Case(name: "with space", legacyMetric: false, legacyLabel: false, escapes: [
            ("\"with space\"", "\"with space\""), ("with_space", "with_space"), ("with__space", "with__space"),
            ("U__with_20_space", "U__with_20_space")]),
        Case(name: "ends\n", legacyMetric: true, legacyLabel: true, escapes: [
            ("ends\\n", "ends\\n"), ("ends\n", "ends\n"), ("ends__", "ends__"), ("ends\n", "ends\n")]),
        Case(name: "a\nb", legacyMetric: false, legacyLabel: false, escapes: [
            ("\"a\\nb\"", "\"a\\nb\""), ("a_b", "a_b"), ("a__b", "a__b"), ("U__a_a_b", "U__a_a_b")]),
        Case(name: "", legacyMetric: false, legacyLabel: false, escapes: [("", ""), ("", ""), ("", ""), ("", "")]),
        Case(name: "_", legacyMetric: true, legacyLabel: true, escapes: [("_", "_"), ("_", "_"), ("__", "__"), ("_", "_")]),
        Case(name: ":", legacyMetric: true, legacyLabel: false, escapes: [(":", "\":\""), (":", "_"), (":", "__"), (":", "U___3a_")]),
        Case(name: "x-y", legacyMetric: false, legacyLabel: false, escapes: [
            ("\"x-y\"", "\"x-y\""), ("x_y", "x_y"), ("x__y", "x__y"), ("U__x_2d_y", "U__x_2d_y")]),
        Case(name: "🚀", legacyMetric: false, legacyLabel: false, escapes: [
            ("\"🚀\"", "\"🚀\""), ("_", "_"), ("__", "__"), ("U___1f680_", "U___1f680_")]),
        Case(name: "a_b.c", legacyMetric: false, legacyLabel: false, escapes: [
            ("\"a_b.c\"", "\"a_b.c\""), ("a_b_c", "a_b_c"), ("a__b_dot_c", "a__b_dot_c"), ("U__a__b_2e_c", "U__a__b_2e_c")]),
    ]

    static let schemes: [EscapingScheme] = [.allowUTF8, .underscores, .dots, .values]

    @Test(arguments: cases)
    func matchesPython(_ c: Case) {
        #expect(NameEscaping.isLegacyMetricName(c.name) == c.legacyMetric)
        #expect(NameEscaping.isLegacyLabelName(c.name) == c.legacyLabel)
        for (scheme, expected) in zip(Self.schemes, c.escapes) {
            var metric: [UInt8] = []
            NameEscaping.appendMetricName(c.name, scheme: scheme, to: &metric)
            var label: [UInt8] = []
            NameEscaping.appendLabelName(c.name, scheme: scheme, to: &label)
            #expect(String(decoding: metric, as: UTF8.self) == expected.0, "metric name, \(scheme)")
            #expect(String(decoding: label, as: UTF8.self) == expected.1, "label name, \(scheme)")
        }
    }

    @Test func labelValuesAndHelp() {
        var value: [UInt8] = []
        NameEscaping.appendQuotedEscape("a\\b\"c\nd🚀", to: &value)
        #expect(String(decoding: value, as: UTF8.self) == "a\\\\b\\\"c\\nd🚀")
        var help: [UInt8] = []
        NameEscaping.appendTextHelp("a\\b\"c\nd", to: &help)
        #expect(String(decoding: help, as: UTF8.self) == "a\\\\b\"c\\nd")
    }
}
