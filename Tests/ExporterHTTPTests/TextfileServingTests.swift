import ExporterHTTP
import Foundation
import MultiprocCollector
import Testing
import TestSupport

/// `serve --textfile.directory` through the real server: textfile families in every body, the
/// exporter's own textfile metrics, bad textfiles left out with 200, counted and logged once.
@Suite("Textfiles through the real server")
struct TextfileServingTests {
    let textfiles = TemporaryDirectory(prefix: "serve-prom")

    /// A server over the usual fixture directory and `textfiles`, with the exporter's own names
    /// reserved as `serve` reserves them.
    func withServer(_ body: (TestServer) throws -> Void) throws {
        try TestServer.with(source: { fixtureCollector in
            var options = DirectoryCollector.Options()
            options.textfileDirectory = textfiles.path
            (options.textfileOptions.reservedFamilies, options.textfileOptions.reservedPrefix) = ExporterServer.ownMetricNames(ExporterConfiguration())
            return try! DirectoryCollector(directory: fixtureCollector.directory, options: options)
        }, body)
    }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: textfiles.file(name + ".tmp")))
        #expect(rename(textfiles.file(name + ".tmp"), textfiles.file(name)) == 0)
    }

    static func value(_ body: String, _ line: String) -> Double? {
        body.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap { Double($0.dropFirst(line.count + 1)) }
    }

    static let info = "# HELP build_info Build.\n# TYPE build_info gauge\nbuild_info{commit=\"abc\",version=\"1.2\"} 1.0\n"
    static let utf8Name = "# HELP \"app.state\" State.\n# TYPE \"app.state\" gauge\n{\"app.state\",\"app.state\"=\"up\"} 1.0\n"

    @Test func badTextfilesAreLeftOutCountedAndLoggedOnceWhileTheRestIsServed() throws {
        try withServer { server in
            try write("good.prom", Self.info)
            try write("broken.prom", "half{a=\"1\n")
            try write("own.prom", "# TYPE process_open_fds gauge\nprocess_open_fds 3\n# HELP extra Extra.\n# TYPE extra gauge\nextra 4\n")
            for _ in 0..<3 {
                let r = try server.get("/metrics")
                #expect(r.status == 200)
                #expect(r.text.contains(Self.info))
                #expect(r.text.contains("# HELP extra Extra.\n# TYPE extra gauge\nextra 4.0\n"))
                #expect(r.text.contains("jobs_total{kind=\"a\"} 7.0\n"), "the .db families stay served")
                #expect(r.text.components(separatedBy: "# TYPE process_open_fds gauge").count == 2, "the exporter's own, once")
                #expect(Self.value(r.text, "multiproc_exporter_textfile_scrape_error") == 1)
                #expect(Self.value(r.text, "multiproc_exporter_textfile_errors_total{reason=\"parse_error\"}") == 1)
                #expect(Self.value(r.text, "multiproc_exporter_textfile_errors_total{reason=\"reserved_name\"}") == 1)
                #expect(Self.value(r.text, "multiproc_exporter_textfile_errors_total{reason=\"duplicate_sample\"}") == 0)
                #expect(Self.value(r.text, "multiproc_exporter_textfile_mtime_seconds{file=\"\(textfiles.file("good.prom"))\"}") ?? 0 > 1e9)
                #expect(Self.value(r.text, "multiproc_exporter_textfile_mtime_seconds{file=\"\(textfiles.file("broken.prom"))\"}") == nil)
            }
            let warnings = server.log.all.filter { $0.contains("level=warn") }
            #expect(warnings.count == 2, "\(warnings)")
            #expect(warnings.contains { $0.contains("msg=\"textfile left out\"") && $0.contains("reason=parse_error") && $0.contains("file=\(textfiles.file("broken.prom"))") })
            #expect(warnings.contains { $0.contains("msg=\"textfile family left out\"") && $0.contains("reason=reserved_name") && $0.contains("family=process_open_fds") })

            try write("broken.prom", "half{a=\"1\"} 2\n")
            let fixed = try server.get("/metrics")
            #expect(Self.value(fixed.text, "half{a=\"1\"}") == 2)
            #expect(Self.value(fixed.text, "multiproc_exporter_textfile_errors_total{reason=\"parse_error\"}") == 1)
            try FileManager.default.removeItem(atPath: textfiles.file("own.prom"))
            #expect(Self.value(try server.get("/metrics").text, "multiproc_exporter_textfile_scrape_error") == 0)
        }
    }

    @Test func everyNegotiatedFormatAndEscapingCarriesTheTextfiles() throws {
        try withServer { server in
            try write("app.prom", Self.info + Self.utf8Name)
            // The sample lines prometheus_client 0.26.0 writes for the same two families with
            // each `Accept` (printed by choose_encoder over a registry holding them).
            let cases: [(accept: String, lines: [String], eof: Bool)] = [
                ("", ["build_info{commit=\"abc\",version=\"1.2\"} 1.0", "app_state{app_state=\"up\"} 1.0"], false),
                ("text/plain;version=1.0.0;escaping=allow-utf-8",
                 ["build_info{commit=\"abc\",version=\"1.2\"} 1.0", "{\"app.state\",\"app.state\"=\"up\"} 1.0"], false),
                ("text/plain;version=1.0.0;escaping=underscores",
                 ["build_info{commit=\"abc\",version=\"1.2\"} 1.0", "app_state{app_state=\"up\"} 1.0"], false),
                ("text/plain;version=1.0.0;escaping=dots",
                 ["build__info{commit=\"abc\",version=\"1.2\"} 1.0", "app_dot_state{app_dot_state=\"up\"} 1.0"], false),
                ("text/plain;version=1.0.0;escaping=values",
                 ["build_info{commit=\"abc\",version=\"1.2\"} 1.0", "U__app_2e_state{U__app_2e_state=\"up\"} 1.0"], false),
                ("application/openmetrics-text", ["build_info{commit=\"abc\",version=\"1.2\"} 1.0", "app_state{app_state=\"up\"} 1.0"], true),
                ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
                 ["build_info{commit=\"abc\",version=\"1.2\"} 1.0", "{\"app.state\",\"app.state\"=\"up\"} 1.0"], true),
                ("application/openmetrics-text;version=1.0.0;escaping=values",
                 ["U__build__info{commit=\"abc\",version=\"1.2\"} 1.0", "U__app_2e_state{U__app_2e_state=\"up\"} 1.0"], true),
                ("application/openmetrics-text;version=1.0.0;escaping=dots",
                 ["build__info{commit=\"abc\",version=\"1.2\"} 1.0", "app_dot_state{app_dot_state=\"up\"} 1.0"], true),
            ]
            for (accept, lines, eof) in cases {
                let r = try server.get("/metrics", headers: accept.isEmpty ? [] : [("Accept", accept)])
                #expect(r.status == 200)
                for line in lines { #expect(r.text.contains("\n\(line)\n"), "\(accept)") }
                #expect(r.text.components(separatedBy: "# EOF").count == (eof ? 2 : 1), "\(accept)")
                #expect(!eof || r.text.hasSuffix("# EOF\n"))
            }
        }
    }
}
