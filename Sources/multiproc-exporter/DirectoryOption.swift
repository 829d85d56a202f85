import ArgumentParser
import MultiprocCollector
import Glibc

/// `--multiproc-dir`, shared by every command.
struct DirectoryOption: ParsableArguments {
    @Option(name: .customLong("multiproc-dir"), help: ArgumentHelp(
        "Directory of the .db files.", discussion: "Default: $PROMETHEUS_MULTIPROC_DIR.", valueName: "dir"))
    var multiprocDir: String?

    /// Opens the collector, or exits with status 2 and a one-line error.
    func collector(options: DirectoryCollector.Options = DirectoryCollector.Options()) throws -> DirectoryCollector {
        guard let dir = multiprocDir ?? environment("PROMETHEUS_MULTIPROC_DIR"), !dir.isEmpty else {
            throw CommandFailure("no metric directory: pass --multiproc-dir or set PROMETHEUS_MULTIPROC_DIR")
        }
        do {
            return try DirectoryCollector(directory: dir, options: options)
        } catch {
            throw CommandFailure(error.description)
        }
    }
}

/// A failure reported as `multiproc-exporter: <message>` with exit status 2.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

extension ParsableCommand {
    /// Runs `body`, turning a ``CommandFailure`` into a one-line error and exit status 2.
    func reportingFailures(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let failure as CommandFailure {
            Output.stderr("multiproc-exporter: \(failure.message)\n")
            throw ExitCode(2)
        }
    }
}

func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}
