import Foundation
import Testing
import MultiprocSupport
import TestSupport

/// The helper every test that spawns a process goes through: it must keep reading both pipes
/// while the child runs, or a chatty child blocks in `write` and its test hangs.
@Suite("Child processes: output read while they run")
struct ChildProcessTests {
    static let shell = URL(fileURLWithPath: "/bin/sh")

    /// Far more than a pipe holds (64 KiB) on both streams, after a line the test waits for:
    /// as `serve` under LeakSanitizer writes its report after the `listening` line.
    @Test func chattyChildIsDrainedWhileItRuns() throws {
        let script = "echo listening >&2; head -c 300000 /dev/zero | tr '\\0' e >&2; head -c 200000 /dev/zero | tr '\\0' o; exit 3"
        let child = try ChildProcess(Self.shell, ["-c", script])
        #expect(child.waitForStderr(containing: "listening", timeout: 10))
        let exited = Locked<ChildProcess.Exit?>(nil)
        Thread { let exit = child.wait(); exited.withLock { $0 = exit } }.start()
        #expect(waitUntil(timeout: 10) { exited.withLock { $0 } != nil }, "the child blocked writing")
        let exit = try #require(exited.withLock { $0 })
        #expect(exit.status == 3 && !exit.signaled)
        #expect(exit.stderr.utf8.count == "listening\n".utf8.count + 300_000)
        #expect(exit.stdout.utf8.count == 200_000)
    }

    @Test func childThatExitsBeforeTheLineIsNotWaitedForUntilTheTimeout() throws {
        let started = Date()
        let child = try ChildProcess(Self.shell, ["-c", "echo failed >&2; exit 2"])
        #expect(!child.waitForStderr(containing: "listening", timeout: 10))
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(child.wait().status == 2)
        #expect(child.stderr == "failed\n")
    }

    @Test func signaledChildIsReportedAsSuch() throws {
        let child = try ChildProcess(Self.shell, ["-c", "echo up >&2; exec sleep 30"])
        #expect(child.waitForStderr(containing: "up", timeout: 10))
        child.send(SIGKILL)
        let exit = child.wait()
        #expect(exit.signaled && exit.status == SIGKILL)
    }
}
