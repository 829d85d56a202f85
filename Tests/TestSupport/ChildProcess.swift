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
///
/// Started with `posix_spawn` rather than Foundation's `Process`, whose `run()` leaks a
/// weak-reference side table (32 bytes; Swift 6.3.1, seen by LeakSanitizer): under
/// `make sanitize` the test process itself is checked for leaks at exit.
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

    /// The read end of a pipe and everything read from it so far.
    private final class Drain: @unchecked Sendable {
        let bytes = Locked<[UInt8]>([])
        /// Signalled once, at end of file.
        let closed = DispatchSemaphore(value: 0)

        var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }

        /// Reads `fd` on a thread of its own until the child (and anything it started) closed
        /// its end, then closes `fd`.
        func start(reading fd: Int32) {
            let bytes = bytes, closed = closed
            Thread {
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let count = read(fd, &buffer, buffer.count)
                    if count < 0 && errno == EINTR { continue }
                    guard count > 0 else { break }
                    bytes.withLock { $0.append(contentsOf: buffer[0..<count]) }
                }
                close(fd)
                closed.signal()
            }.start()
        }
    }

    package let pid: pid_t
    /// Held from creating a child's pipes until it is spawned (see ``init(_:_:environment:)``).
    private static let spawning = Locked(())
    private let out = Drain()
    private let err = Drain()
    /// The `waitpid` status once the child was reaped.
    private let reaped = Locked<Int32?>(nil)

    /// A child that could not be started, or did not finish in time.
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
        package init(description: String) { self.description = description }
    }

    /// Starts `executable` with `arguments` (and `environment` instead of this process's
    /// own), stdin from /dev/null, every signal at its default disposition and unblocked.
    package init(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)

        // Ignored and blocked signals survive exec: the child must start as a shell would start it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp ?? [] { free(pointer) }
        }
        var child: pid_t = 0
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        // Tests spawn from several threads at once: a pipe must be close-on-exec before any
        // other child can be started, or that child holds its write end and this one's reader
        // never sees end of file. (`pipe2` is not imported into Swift.)
        let rc = Self.spawning.withLock { _ -> Int32 in
            guard pipe(&outPipe) == 0 else { return errno }
            guard pipe(&errPipe) == 0 else { return errno }
            for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
            posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
            return envp.map { posix_spawn(&child, executable.path, &actions, &attributes, argv, $0) }
                ?? posix_spawn(&child, executable.path, &actions, &attributes, argv, environ)
        }
        for fd in [outPipe[1], errPipe[1]] where fd >= 0 { close(fd) }
        guard rc == 0 else {
            for fd in [outPipe[0], errPipe[0]] where fd >= 0 { close(fd) }
            throw Failure(description: "cannot start \(executable.path): \(String(cString: strerror(rc)))")
        }
        pid = child
        out.start(reading: outPipe[0])
        err.start(reading: errPipe[0])
    }

    /// Runs `executable` to its end; killed, and a ``Failure``, after `timeout` seconds.
    package static func run(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                            timeout: Double = 120) throws -> Exit {
        let child = try ChildProcess(executable, arguments, environment: environment)
        guard let exit = child.wait(timeout: timeout) else {
            throw Failure(description: "\(executable.path) \(arguments.joined(separator: " ")) did not finish in \(timeout) s")
        }
        return exit
    }

    /// Runs the command `name` (looked up in `PATH`: ``path(of:)``) to its end.
    package static func run(_ name: String, _ arguments: [String], environment: [String: String]? = nil,
                            timeout: Double = 120) throws -> Exit {
        try run(URL(fileURLWithPath: try path(of: name)), arguments, environment: environment, timeout: timeout)
    }

    /// `name` looked up in `PATH` (or as given when it holds a slash).
    package static func path(of name: String) throws -> String {
        if name.contains("/") { return name }
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for dir in dirs where access("\(dir)/\(name)", X_OK) == 0 { return "\(dir)/\(name)" }
        throw Failure(description: "\(name) not found in PATH")
    }

    /// Whether the command `name` is installed.
    package static func available(_ name: String) -> Bool { (try? path(of: name)) != nil }

    /// Whether the child has not exited yet.
    package var isRunning: Bool {
        reaped.withLock { status in
            guard status == nil else { return false }
            var raw: Int32 = 0
            guard waitpid(pid, &raw, WNOHANG) == pid else { return true }
            status = raw
            return false
        }
    }

    /// What the process wrote to stdout so far.
    package var stdout: String { out.text }
    /// What the process wrote to stderr so far.
    package var stderr: String { err.text }

    /// A size field of `/proc/<pid>/status` in KiB (`VmRSS`, `RssAnon`...); nil once it exited.
    package func statusKiB(_ field: String) -> Int? {
        guard let status = FileContents.text("/proc/\(pid)/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }) else { return nil }
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }

    /// Waits until stderr holds `text`; false when the process closed stderr (it exited)
    /// or `timeout` seconds passed first.
    package func waitForStderr(containing text: String, timeout: Double = 60) -> Bool {
        wait(for: text, in: err, timeout: timeout)
    }

    /// Waits until stdout holds `text` (a child saying it is ready); as ``waitForStderr(containing:timeout:)``.
    package func waitForStdout(containing text: String, timeout: Double = 60) -> Bool {
        wait(for: text, in: out, timeout: timeout)
    }

    private func wait(for text: String, in drain: Drain, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if drain.text.contains(text) { return true }
            if drain.closed.wait(timeout: .now() + 0.01) == .success {
                drain.closed.signal()  // leave it signalled for wait()
                return drain.text.contains(text)
            }
        }
        return drain.text.contains(text)
    }

    /// Sends `signal` (to a child not reaped yet: its pid cannot have been reused).
    package func send(_ signal: Int32) {
        reaped.withLock { status in
            if status == nil { kill(pid, signal) }
        }
    }

    /// ``wait()`` for at most `timeout` seconds; nil (the child killed) when it was still running.
    package func wait(timeout: Double) -> Exit? {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning {
            guard Date() < deadline else {
                send(SIGKILL)
                wait()
                return nil
            }
            usleep(2_000)
        }
        return wait()
    }

    /// Waits for the exit and for the end of both pipes; returns the whole output.
    @discardableResult
    package func wait() -> Exit {
        // Block until it exited without reaping it (WNOWAIT), so that send() never waits for
        // this and never signals a pid that was reaped and reused; then reap it under the lock.
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        let raw = reaped.withLock { status -> Int32 in
            if let status { return status }
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            status = raw
            return raw
        }
        for drain in [out, err] {
            drain.closed.wait()
            drain.closed.signal()  // wait() may be called again
        }
        // WIFSIGNALED / WTERMSIG / WEXITSTATUS, which Swift does not import (macros).
        let signal = raw & 0x7f
        let signaled = signal != 0 && signal != 0x7f
        return Exit(status: signaled ? signal : (raw >> 8) & 0xff, signaled: signaled, stdout: out.text, stderr: err.text)
    }

    /// A child still running when its test is done is killed and reaped, never left behind.
    deinit {
        send(SIGKILL)
        wait()
    }
}
