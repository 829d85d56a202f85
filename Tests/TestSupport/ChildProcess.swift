import Foundation
import MultiprocSupport

/// A process started by a test (the built binary, Python), whose stdout and stderr are read
/// from the moment it starts until it closes them.
///
/// Why always read: a pipe holds 64 KiB. A child that writes more than that to a pipe nobody
/// reads blocks in `write` for good; seen with LeakSanitizer on, where `serve` writes its leak
/// report at exit into a stderr pipe that the test read only after the exit it was waiting
/// for. So one thread per pipe reads whatever arrives, for the child's whole life, and tests
/// look at what was read so far (``stderr``, ``waitForStderr(containing:timeout:)``) or at
/// everything once it exited (``wait()``).
package final class ChildProcess: @unchecked Sendable {
    /// How the process ended, and everything it wrote.
    package struct Exit: Sendable {
        /// The exit status, or the signal number when ``signaled``.
        package var status: Int32
        /// Ended by a signal rather than by exiting.
        package var signaled: Bool
        package var stdout: String
        package var stderr: String
    }

    /// A pipe and everything read from it so far.
    private final class Drain: @unchecked Sendable {
        let pipe = Pipe()
        let bytes = Locked(Data())
        /// Signalled once, at end of file.
        let closed = DispatchSemaphore(value: 0)

        var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }

        /// Reads on a thread of its own until the child (and anything it started) closed its end.
        func start() {
            let fd = pipe.fileHandleForReading.fileDescriptor
            let bytes = bytes, closed = closed
            Thread {
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let count = read(fd, &buffer, buffer.count)
                    if count < 0 && errno == EINTR { continue }
                    guard count > 0 else { break }
                    bytes.withLock { $0.append(contentsOf: buffer[0..<count]) }
                }
                closed.signal()
            }.start()
        }
    }

    private let process = Process()
    private let out = Drain()
    private let err = Drain()

    /// Starts `executable` with `arguments` (and `environment` instead of this process's own).
    package init(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out.pipe
        process.standardError = err.pipe
        try process.run()
        out.start()
        err.start()
    }

    /// Runs `executable` to its end.
    package static func run(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws -> Exit {
        try ChildProcess(executable, arguments, environment: environment).wait()
    }

    package var pid: Int32 { process.processIdentifier }
    package var isRunning: Bool { process.isRunning }
    /// What the process wrote to stdout so far.
    package var stdout: String { out.text }
    /// What the process wrote to stderr so far.
    package var stderr: String { err.text }

    /// A size field of `/proc/<pid>/status` in KiB (`VmRSS`, `RssAnon`...); nil once it exited.
    package func statusKiB(_ field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }) else { return nil }
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }

    /// Waits until stderr holds `text`; false when the process closed stderr (it exited)
    /// or `timeout` seconds passed first.
    package func waitForStderr(containing text: String, timeout: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stderr.contains(text) { return true }
            if err.closed.wait(timeout: .now() + 0.01) == .success {
                err.closed.signal()  // leave it signalled for wait()
                return stderr.contains(text)
            }
        }
        return stderr.contains(text)
    }

    /// Sends `signal` (a running process only).
    package func send(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits for the exit and for the end of both pipes; returns the whole output.
    @discardableResult
    package func wait() -> Exit {
        process.waitUntilExit()
        for drain in [out, err] {
            drain.closed.wait()
            drain.closed.signal()  // wait() may be called again
        }
        return Exit(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                    stdout: out.text, stderr: err.text)
    }

    /// A child still running when its test is done is killed, never left behind.
    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
