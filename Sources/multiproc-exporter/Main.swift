import ArgumentParser
import ExporterHTTP

@main
struct MultiprocExporter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multiproc-exporter",
        abstract: "Prometheus exporter for the metric files of prometheus_client's multiprocess mode.",
        discussion: """
            Reads the .db files that Python's prometheus_client writes in multiprocess mode \
            (gunicorn, uWSGI, celery…) from $PROMETHEUS_MULTIPROC_DIR and serves them merged, \
            byte for byte as prometheus_client 0.26.0's MultiProcessCollector would.
            """,
        version: ExporterVersion.current,
        subcommands: [Serve.self, Dump.self, MarkDead.self, Check.self, Profile.self]
    )
}
