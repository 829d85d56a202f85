import MultiprocCollector

/// Builds one `/metrics` body: the merged exposition, then the exporter's own families, then
/// the format's trailer (`# EOF` for OpenMetrics comes after the self-metrics), gzipped on request.
struct ScrapeRenderer: Sendable {
    /// Nil when `--web.disable-exporter-metrics` is set.
    let metrics: ExporterMetrics?
    let gzipLevel: Int32

    func render(_ snapshot: Snapshot, format: ExpositionFormat, gzip: Bool) -> ResponseBody {
        var out: [UInt8] = []
        snapshot.render(format, into: &out)
        if let metrics {
            // Through the collector's writer, so escaping and format rules are the same as above.
            let own = metrics.families(statistics: snapshot.statistics, textfiles: snapshot.textfiles) + ProcessMetrics.families()
            ExpositionWriter.write(own, format: format, into: &out)
        }
        out.append(contentsOf: format.trailer)
        return ResponseBody(gzip ? Gzip.compress(out, level: gzipLevel) : out)
    }
}
