import ArgumentParser
import MultiprocCollector
#if canImport(Glibc)
import Glibc
#endif

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the merged exposition of the directory once.")

    @Option(name: .customLong("multiproc-dir"), help: "Directory of .db files (default: $PROMETHEUS_MULTIPROC_DIR).")
    var multiprocDir: String?

    @Option(help: "Accept header to negotiate the format with, as Prometheus sends it.")
    var accept: String?

    func run() throws {
        let dir = multiprocDir ?? ProcessEnvironment.get("PROMETHEUS_MULTIPROC_DIR") ?? ""
        let collector = try MultiprocCollector(directory: dir)
        let snapshot = collector.collect()
        for problem in snapshot.problems {
            FileHandleOutput.stderr("warning: \(problem)\n")
        }
        let body = snapshot.body(ExpositionFormat.negotiate(accept: accept))
        FileHandleOutput.stdout(body)
        // One-shot: the cache would be torn down for nothing.
        Glibc.exit(0)
    }
}

struct MarkDead: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mark-dead", abstract: "Remove a dead pid's live gauge files.")
    @Argument var pid: Int
    @Option(name: .customLong("multiproc-dir")) var multiprocDir: String?
    func run() throws {
        let dir = multiprocDir ?? ProcessEnvironment.get("PROMETHEUS_MULTIPROC_DIR") ?? ""
        let collector = try MultiprocCollector(directory: dir)
        for name in try collector.markDead(pid: pid) { print("removed \(name)") }
    }
}

enum ProcessEnvironment {
    static func get(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        return String(cString: v)
    }
}

enum FileHandleOutput {
    static func stdout(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(1, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }
    static func stderr(_ s: String) {
        var s = s
        s.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
