import ArgumentParser
import MultiprocCollector
import Glibc

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the merged exposition once (or write it atomically to a file).",
        discussion: """
            File problems (and textfile problems) are printed to stderr as warnings and do not change the exit status. \
            With --output the file is replaced atomically (temporary file + rename), as \
            node_exporter's textfile collector expects.
            """)

    @OptionGroup var directory: DirectoryOption

    @OptionGroup var textfiles: TextfileOption

    @Option(help: ArgumentHelp(
        "Accept header to negotiate the format with, exactly as an HTTP client would send it.",
        discussion: "Default: none, which gives text/plain; version=0.0.4.", valueName: "header"))
    var accept: String?

    @Option(help: ArgumentHelp("Write to this file atomically instead of stdout.", valueName: "file"))
    var output: String?

    func run() throws {
        try reportingFailures {
            let collector = try directory.collector(options: textfiles.options())
            let snapshot = collector.collect()
            for problem in snapshot.problems {
                Output.stderr("multiproc-exporter: warning: \(problem)\n")
            }
            for problem in snapshot.textfiles?.problems ?? [] {
                Output.stderr("multiproc-exporter: warning: textfile \(problem)\n")
            }
            let body = snapshot.body(ExpositionFormat.negotiate(accept: accept))
            if let output {
                try Output.replaceFile(at: output, with: body)
            } else {
                Output.stdout(body)
            }
            // One-shot: tearing the cache down would only cost time.
            Glibc.exit(0)
        }
    }
}
