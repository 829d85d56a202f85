import MultiprocCollector

/// Builds one `/metrics` body: the merged exposition, then the app's process metrics (the
/// workers collector's families, which `--web.disable-exporter-metrics` keeps: they describe
/// the app), then the exporter's own families, then the format's trailer (`# EOF` for
/// OpenMetrics comes after the self-metrics), gzipped on request.
struct ScrapeRenderer: Sendable {
    /// Nil when `--web.disable-exporter-metrics` is set.
    let metrics: ExporterMetrics?
    let gzipLevel: Int32
    /// Keeps the app's process metrics' rendered pieces between scrapes.
    let workers = WorkerExposition()

    func render(_ refresh: ScrapeResult, format: ExpositionFormat, gzip: Bool) -> ResponseBody {
        var out: [UInt8] = []
        refresh.snapshot.render(format, into: &out)
        workers.render(refresh.workers, format: format, into: &out)
        if let metrics {
            // Through the collector's writer, so escaping and format rules are the same as above.
            let own = metrics.families(statistics: refresh.snapshot.statistics, textfiles: refresh.snapshot.textfiles) + ProcessMetrics.families()
            ExpositionWriter.write(own, format: format, into: &out)
        }
        out.append(contentsOf: format.trailer)
        return ResponseBody(gzip ? Gzip.compress(out, level: gzipLevel) : out)
    }
}

/// What one refresh produced: the merged snapshot and the app's process metrics read with it.
struct ScrapeResult: Sendable {
    let snapshot: Snapshot
    /// The workers collector's lines (none when it is off or the app is not visible).
    let workers: [WorkerFamilies.Line]
}
