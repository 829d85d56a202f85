import ArgumentParser
import MultiprocCollector
import Glibc

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the merged exposition once (or write it atomically to a file).",
        discussion: """
            File problems are printed to stderr as warnings and do not change the exit status. \
            With --output the file is replaced atomically (temporary file + rename), as \
            node_exporter's textfile collector expects.
            """)

    @OptionGroup var directory: DirectoryOption

    @Option(help: ArgumentHelp(
        "Accept header to negotiate the format with, exactly as an HTTP client would send it.",
        discussion: "Default: none, which gives text/plain; version=0.0.4.", valueName: "header"))
    var accept: String?

    @Option(help: ArgumentHelp("Write to this file atomically instead of stdout.", valueName: "file"))
    var output: String?

    func run() throws {
        try reportingFailures {
            let collector = try directory.collector()
            let snapshot = collector.collect()
            for problem in snapshot.problems {
                Output.stderr("multiproc-exporter: warning: \(problem)\n")
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

struct MarkDead: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mark-dead",
        abstract: "Remove the live gauge files of a dead process (like mark_process_dead).",
        discussion: """
            Removes gauge_live{all,sum,min,max,mostrecent}_<pid>.db and nothing else; other \
            files of the pid stay until the directory is wiped. Idempotent.
            """)

    @Argument(help: "Process id of the dead worker (1 or more).")
    var pid: Int

    @OptionGroup var directory: DirectoryOption

    func validate() throws {
        guard pid >= 1 else { throw ValidationError("pid must be a positive integer, got \(pid)") }
    }

    func run() throws {
        try reportingFailures {
            let collector = try directory.collector()
            let removed: [String]
            do { removed = try collector.markDead(pid: pid) } catch let error as CollectorError { throw CommandFailure(error.description) }
            if removed.isEmpty {
                Output.stderr("multiproc-exporter: no live gauge files for pid \(pid)\n")
            } else {
                for name in removed { print("removed \(name)") }
            }
        }
    }
}
