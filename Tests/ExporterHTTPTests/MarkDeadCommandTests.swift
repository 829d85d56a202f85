import Foundation
import Testing

/// `multiproc-exporter mark-dead`: exactly one of PID or --auto, run as the built binary.
@Suite("mark-dead command: PID or --auto")
struct MarkDeadCommandTests {
    static func markDead(_ arguments: [String]) throws -> CheckCommandTests.Run {
        try CheckCommandTests.run(["mark-dead"] + arguments)
    }

    @Test(.enabled(if: LifecycleTests.binary != nil), arguments: [
        ([], "give a PID, or --auto"),
        (["5", "--auto"], "either a PID or --auto, not both"),
        (["0"], "pid must be a positive integer"),
        (["--auto", "--auto.confirm-after", "soon"], "--auto.confirm-after"),
    ])
    func badArgumentsAreUsageErrors(arguments: [String], message: String) throws {
        let fixture = try FixtureDirectory.make()
        defer { fixture.remove() }
        let run = try Self.markDead(arguments + ["--multiproc-dir", fixture.path])
        #expect(run.status == 64, "\(run.stderr)")
        #expect(run.stderr.contains(message), "\(run.stderr)")
        #expect(fixture.files().count == 6, "nothing removed")
    }

    @Test(.enabled(if: LifecycleTests.binary != nil)) func pidStillWorks() throws {
        let fixture = try FixtureDirectory.make()
        defer { fixture.remove() }
        let run = try Self.markDead(["101", "--multiproc-dir", fixture.path])
        #expect(run.status == 0)
        #expect(run.stdout == "removed gauge_livesum_101.db\n")
    }

    /// Files whose writers are nowhere to be seen (pids 101 and 102 of a fixture; on this host
    /// those numbers are absent or kernel threads): not visible, nothing marked, exit 1.
    @Test(.enabled(if: LifecycleTests.binary != nil)) func autoRefusesToGuessWhenNoWriterIsVisible() throws {
        let fixture = try FixtureDirectory.make()
        defer { fixture.remove() }
        let run = try Self.markDead(["--auto", "--auto.confirm-after", "50ms", "--multiproc-dir", fixture.path])
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("2 with live gauges, never seen written from here, not marked dead"), "\(run.stderr)")
        #expect(fixture.files().count == 6)
    }
}
