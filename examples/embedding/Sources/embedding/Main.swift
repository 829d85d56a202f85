import Foundation
import MultiprocCollector

/// Prints the exposition of a prometheus_client multiprocess directory, as `multiproc-exporter
/// dump` does, through the library's public API only.
///
///     swift run -c release embedding DIR [--accept HEADER] [--families]
///
/// `--families` prints one line per family and sample instead (see Summary.swift, which also
/// shows that the library's types can be qualified when the app has types of the same names).
@main
struct Embedding {
    static func main() async {
        guard let arguments = Arguments(CommandLine.arguments.dropFirst()) else {
            FileHandle.standardError.write(Data("usage: embedding DIR [--accept HEADER] [--families]\n".utf8))
            exit(2)
        }
        do {
            // The SIGBUS handler that makes truncated files harmless is process-wide: install
            // it explicitly, here before any handler of our own, and tell the collector so.
            try SigbusProtection.install()
            var options = DirectoryCollector.Options()
            options.installsSigbusHandler = false
            let collector = try DirectoryCollector(directory: arguments.directory, options: options)

            // collect() blocks for up to seconds on a large directory; the async variant runs
            // that work off the cooperative thread pool.
            let snapshot = await collector.collect()

            // Problems are reported once per consumer; a long-running app keeps its log.
            var problems = ProblemLog()
            for problem in problems.newProblems(in: snapshot) {
                FileHandle.standardError.write(Data("embedding: warning: \(problem)\n".utf8))
            }

            if arguments.families {
                FileHandle.standardOutput.write(Data(Summary.lines(of: snapshot).utf8))
            } else {
                let format = ExpositionFormat.negotiate(accept: arguments.accept)
                FileHandle.standardOutput.write(Data(snapshot.body(format)))
            }
        } catch let error as CollectorError {
            FileHandle.standardError.write(Data("embedding: \(message(for: error))\n".utf8))
            exit(2)
        } catch {
            FileHandle.standardError.write(Data("embedding: \(error)\n".utf8))
            exit(2)
        }
    }

    /// What to tell a person, by case: the errors are meant to be switched on.
    static func message(for error: CollectorError) -> String {
        switch error {
        case .directoryMissing(let path): return "\(path) does not exist: is PROMETHEUS_MULTIPROC_DIR set for the app?"
        case .notADirectory(let path): return "\(path) is a file, not the metrics directory"
        case .permissionDenied(let path): return "\(path): permission denied (run as the app's group)"
        default: return error.description
        }
    }
}

/// `DIR [--accept HEADER] [--families]`.
struct Arguments {
    var directory: String
    var accept: String?
    var families = false

    init?(_ arguments: ArraySlice<String>) {
        var rest = arguments
        var directory: String?
        while let argument = rest.popFirst() {
            switch argument {
            case "--accept":
                guard let value = rest.popFirst() else { return nil }
                accept = value
            case "--families":
                families = true
            default:
                guard directory == nil, !argument.hasPrefix("-") else { return nil }
                directory = argument
            }
        }
        guard let directory else { return nil }
        self.directory = directory
    }
}
