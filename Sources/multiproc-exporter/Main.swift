import ArgumentParser

@main
struct MultiprocExporter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multiproc-exporter",
        abstract: "Prometheus exporter for prometheus_client multiprocess-mode metric files.",
        subcommands: [Dump.self, MarkDead.self, Serve.self]
    )
}
