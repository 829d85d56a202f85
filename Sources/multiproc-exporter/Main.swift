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
        subcommands: [Serve.self, Dump.self, Push.self, MarkDead.self, Check.self, Compact.self, Profile.self]
    )

    /// Swift finds its command line on Linux through /proc (the stack's place in
    /// /proc/self/maps): where /proc is not mounted, a bare chroot for instance, it sees no
    /// arguments at all, not even its own name, and would print the help and exit 0 whatever
    /// it was asked to do. Say so and fail instead.
    static func main() {
        guard CommandLine.argc > 0 else {
            Output.stderr("multiproc-exporter: cannot read its command line: is /proc mounted?\n")
            exit(withError: ExitCode(2))
        }
        main(nil)
    }
}
