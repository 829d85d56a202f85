import Foundation
import Testing
import TestSupport

/// prometheus_client's own rendering of a directory, when Python and the client are installed.
enum PythonReference {
    static let available: Bool = (try? run(["-c", "import prometheus_client"])) != nil

    /// Whether the cross-check against Python can run. Where it cannot, the check is skipped
    /// locally, and fails under `REQUIRE_INTEGRATION=1` (CI installs prometheus_client): a
    /// cross-check that silently skips proves nothing.
    static func requireAvailable(sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        if !available, ProcessInfo.processInfo.environment["REQUIRE_INTEGRATION"] == "1" {
            Issue.record("python3 with prometheus_client is required (REQUIRE_INTEGRATION=1)", sourceLocation: sourceLocation)
        }
        return available
    }

    static func body(directory: String, accept: String? = nil) throws -> String {
        let script = """
            import sys
            from prometheus_client import CollectorRegistry, multiprocess
            from prometheus_client.exposition import choose_encoder
            registry = CollectorRegistry(support_collectors_without_names=True)
            multiprocess.MultiProcessCollector(registry, path=sys.argv[1])
            encoder, _ = choose_encoder(sys.argv[2] if len(sys.argv) > 2 else None)
            sys.stdout.buffer.write(encoder(registry))
            """
        return try run(["-c", script, directory] + (accept.map { [$0] } ?? []))
    }

    struct Failure: Error { let status: Int32; let stderr: String }

    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let exit = try ChildProcess.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3"] + arguments)
        guard exit.status == 0, !exit.signaled else { throw Failure(status: exit.status, stderr: exit.stderr) }
        return exit.stdout
    }
}
