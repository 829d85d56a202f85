import ExporterHTTP
import Foundation
import MultiprocCollector
import Testing

@Suite("GET /metrics: negotiation, body, gzip, self-metrics")
struct MetricsEndpointTests {
    static let accepts: [String?] = [
        nil,
        "text/plain",
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "application/openmetrics-text",
        "text/plain;version=1.0.0;escaping=allow-utf-8",
        "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    ]

    @Test(arguments: accepts)
    func bodyEqualsSnapshotBodyWithoutExporterMetrics(accept: String?) throws {
        try TestServer.with(configure: { $0.exporterMetricsEnabled = false }) { server in
            let format = ExpositionFormat.negotiate(accept: accept)
            let r = try server.get("/metrics", headers: accept.map { [("Accept", $0)] } ?? [])
            #expect(r.status == 200)
            #expect(r.header("Content-Type") == format.contentType)
            #expect(r.header("Content-Length") == String(r.body.count))
            #expect(r.header("Vary") == "Accept-Encoding")
            #expect(r.header("Content-Encoding") == nil)
            #expect(r.body == server.collector.collect().body(format))
            #expect(r.text.contains("jobs_total{kind=\"a\"} 7.0"))
        }
    }

    @Test(arguments: [ExpositionFormat.prometheusText004, ExpositionFormat.negotiate(accept: "application/openmetrics-text")])
    func exporterMetricsFollowTheMergedBodyAndPrecedeEOF(format: ExpositionFormat) throws {
        try TestServer.with { server in
            let r = try server.get("/metrics", headers: [("Accept", format.contentType)])
            var merged: [UInt8] = []
            server.collector.collect().render(format, into: &merged)
            #expect(Array(r.body.prefix(merged.count)) == merged)
            let own = String(decoding: r.body.dropFirst(merged.count), as: UTF8.self)
            #expect(own.hasPrefix("# HELP multiproc_exporter_build_info"))
            if format.syntax == .openMetrics {
                #expect(own.hasSuffix("\n# EOF\n"))
                #expect(own.components(separatedBy: "# EOF").count == 2)
            } else {
                #expect(!own.contains("# EOF"))
            }
            for name in ["multiproc_exporter_scrape_duration_seconds", "multiproc_exporter_files{type=\"counter\"} 2.0",
                         "multiproc_exporter_files{type=\"summary\"} 0.0", "multiproc_exporter_bytes",
                         "multiproc_exporter_pids 2.0", "multiproc_exporter_files_by_layout{layout=\"k4v16\"} 6.0",
                         "multiproc_exporter_files_by_layout{layout=\"k3v8\"} 0.0",
                         "multiproc_exporter_file_errors_total{reason=\"empty_file\"} 0.0",
                         "multiproc_exporter_file_errors_total{reason=\"directory_unreadable\"} 0.0",
                         "multiproc_exporter_mark_dead_requests_total{result=\"removed\"} 0.0",
                         "multiproc_exporter_mark_dead_requests_total{result=\"invalid_pid\"} 0.0",
                         "multiproc_exporter_build_info{revision=\"\(ExporterVersion.revision)\",version=\"\(ExporterVersion.current)\"} 1.0",
                         "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                         "process_start_time_seconds", "process_max_fds"] {
                #expect(own.contains(name), "\(name)")
            }
            for reason in FileProblem.Reason.allCases {
                #expect(own.contains("multiproc_exporter_file_errors_total{reason=\"\(reason.rawValue)\"}"))
            }
            for result in MarkDeadResult.allCases {
                #expect(own.contains("multiproc_exporter_mark_dead_requests_total{result=\"\(result.rawValue)\"}"))
            }
        }
    }

    @Test(arguments: ["gzip", "x-gzip", "*", "deflate, gzip;q=0.5", "GZIP", "br;q=1.0, *;q=0.1"])
    func gzipRoundTrips(acceptEncoding: String) throws {
        try TestServer.with(configure: { $0.exporterMetricsEnabled = false }) { server in
            let r = try server.get("/metrics", headers: [("Accept-Encoding", acceptEncoding)])
            #expect(r.header("Content-Encoding") == "gzip")
            #expect(r.header("Vary") == "Accept-Encoding")
            #expect(r.header("Content-Length") == String(r.body.count))
            #expect(try Inflate.gunzip(r.body) == server.collector.collect().body(.prometheusText004))
        }
    }

    @Test(arguments: ["identity", "gzip;q=0", "*;q=0", "gzip;q=0, *", "deflate", "gzip;q=bogus", ""])
    func noGzipUnlessAcceptable(acceptEncoding: String) throws {
        try TestServer.with(configure: { $0.exporterMetricsEnabled = false }) { server in
            let r = try server.get("/metrics", headers: [("Accept-Encoding", acceptEncoding)])
            #expect(r.header("Content-Encoding") == nil)
            #expect(r.body == server.collector.collect().body(.prometheusText004))
        }
    }

    @Test func fileProblemsAreLoggedOnceAndCounted() throws {
        try TestServer.with { server in
            _ = FileManager.default.createFile(atPath: server.fixture.path + "/counter_999.db", contents: Data())
            let first = try server.get("/metrics").text
            let second = try server.get("/metrics").text
            #expect(first.contains("multiproc_exporter_file_errors_total{reason=\"empty_file\"} 1.0"))
            #expect(second.contains("multiproc_exporter_file_errors_total{reason=\"empty_file\"} 1.0"))
            let warnings = server.log.all.filter { $0.contains("level=warn") && $0.contains("counter_999.db") }
            #expect(warnings.count == 1)
            #expect(warnings.first?.contains("reason=empty_file") == true)
        }
    }

    @Test func vanishedDirectoryKeepsServingExporterMetrics() throws {
        try TestServer.with { server in
            #expect(try server.get("/metrics").status == 200)
            server.fixture.remove()
            for _ in 0..<2 {
                let r = try server.get("/metrics")
                #expect(r.status == 200)
                #expect(r.text.contains("multiproc_exporter_file_errors_total{reason=\"directory_unreadable\"} 1.0"))
                #expect(!r.text.contains("jobs_total"))
            }
            #expect(server.log.all.filter { $0.contains("directory unreadable") }.count == 1)
            #expect(try server.get("/healthz").status == 200)
        }
    }

    @Test func exporterMetricsCanBeDisabled() throws {
        try TestServer.with(configure: { $0.exporterMetricsEnabled = false }) { server in
            let text = try server.get("/metrics").text
            #expect(!text.contains("multiproc_exporter_"))
            #expect(!text.contains("process_"))
        }
    }
}
