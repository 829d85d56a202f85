import Foundation

/// A real pre-fork app in Python: a parent forks `workers` workers without `exec` (as
/// gunicorn, uWSGI and celery do), each maps its own `counter_<pid>.db` read-write and shared
/// (as prometheus_client does), burns 0.2 s of CPU times its number and sleeps; when they
/// exit (``stopWorkers()``) the parent reaps them and says so.
package final class PreforkApp: @unchecked Sendable {
    package let process: ChildProcess
    package let workers: [Int]
    package var pid: Int { Int(process.pid) }

    static let script = """
        import mmap, os, struct, sys, time
        workers = []
        for n in range(int(sys.argv[2])):
            pid = os.fork()
            if pid == 0:
                f = open(os.path.join(sys.argv[1], 'counter_%d.db' % os.getpid()), 'a+b')
                f.truncate(65536)
                m = mmap.mmap(f.fileno(), 65536, access=mmap.ACCESS_WRITE)
                struct.pack_into('i', m, 0, 8)  # `used`: the header, no entry yet
                end = time.process_time() + 0.2 * (n + 1)
                while time.process_time() < end:
                    pass
                os.write(1, b'ready %d\\n' % os.getpid())  # one write: print() may write in parts
                time.sleep(120)
                os._exit(0)
            workers.append(pid)
        for pid in workers:
            os.waitpid(pid, 0)
        print('reaped', flush=True)
        time.sleep(120)
        """

    /// Starts the app writing into `directory`; returns once every worker mapped its file and
    /// burnt its CPU.
    package init(directory: String, workers: Int = 2) throws {
        let process = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", Self.script, directory, String(workers)])
        // Complete lines only: a line read in two parts must not count as a pid.
        func ready() -> [Int] {
            process.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
                .compactMap { $0.hasPrefix("ready ") ? Int($0.dropFirst(6)) : nil }.sorted()
        }
        guard waitUntil(timeout: 30, { ready().count == workers }) else {
            process.send(SIGKILL)
            throw ChildProcess.Failure(description: "the pre-fork app did not start: \(process.stdout) \(process.stderr)")
        }
        self.process = process
        self.workers = ready()
    }

    /// Ends the workers (SIGTERM) and waits until the parent reaped them.
    package func stopWorkers() -> Bool {
        for pid in workers { kill(pid_t(pid), SIGTERM) }
        return process.waitForStdout(containing: "reaped", timeout: 20)
    }

    /// Ends everything.
    package func stop() {
        for pid in workers { kill(pid_t(pid), SIGKILL) }
        process.send(SIGKILL)
        process.wait()
    }
}
