import ArgumentParser
import ExporterHTTP
import MultiprocCollector

/// `--textfile.directory` and its size limit, shared by `serve`, `dump` and `push`.
struct TextfileOption: ParsableArguments {
    @Option(name: .customLong("textfile.directory"), help: ArgumentHelp(
        "Add every *.prom file of this directory (Prometheus text format, as prometheus_client's write_to_textfile writes it) to the .db files' metrics.",
        discussion: "For Info and Enum metrics, custom collectors and cron jobs, which multiprocess mode cannot carry. Read again on every scrape, as node_exporter's textfile collector reads it; see the README, Textfiles.",
        valueName: "dir"))
    var directory: String?

    @Option(name: .customLong("textfile.max-file-size"),
            help: ArgumentHelp("Leave out textfiles larger than this (e.g. 512KB, 16MB).", valueName: "size"))
    var maxFileSize = "16MB"

    /// Collector options with the textfile directory (leaving `reserved` names to the caller),
    /// or a ``CommandFailure`` for a bad flag.
    func options(reserved: (families: [MetricFamily], prefix: String?) = ([], nil)) throws(CommandFailure) -> DirectoryCollector.Options {
        var options = DirectoryCollector.Options()
        do { try apply(to: &options, reserved: reserved) } catch { throw CommandFailure(error.description) }
        return options
    }

    /// Sets the textfile directory of `options`, keeping `reserved` names for the caller.
    func apply(to options: inout DirectoryCollector.Options,
               reserved: (families: [MetricFamily], prefix: String?) = ([], nil)) throws(ConfigurationError) {
        let limit = try ByteSizeParser.bytes(maxFileSize)
        guard let directory else { return }
        guard !directory.isEmpty else { throw ConfigurationError("--textfile.directory must not be empty") }
        options.textfileDirectory = directory
        options.textfileOptions.maxFileSize = limit
        options.textfileOptions.reservedFamilies = reserved.families
        options.textfileOptions.reservedPrefix = reserved.prefix
    }
}
