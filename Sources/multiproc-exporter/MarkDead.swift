import ArgumentParser
import ExporterHTTP
import MultiprocCollector
import Glibc

struct MarkDead: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mark-dead",
        abstract: "Mark a dead worker's pid dead (like mark_process_dead), or find dead workers in /proc (--auto).",
        usage: """
            multiproc-exporter mark-dead <pid> [--multiproc-dir <dir>]
            multiproc-exporter mark-dead --auto [--auto.confirm-after <duration>] [--multiproc-dir <dir>]
            """,
        discussion: """
            With a PID: removes gauge_live{all,sum,min,max,mostrecent}_<pid>.db and nothing \
            else; other files of the pid stay until the directory is wiped or compacted: the \
            death is recorded, with the pid's other files as they are, in \
            multiproc-exporter.journal in the directory (prometheus_client ignores it), for \
            `multiproc-exporter compact` or `serve --compaction` to fold later. Idempotent. \
            With --auto (for cron, where no hook reports dead workers): checks every pid that \
            has files in /proc, checks again --auto.confirm-after later, and marks dead the \
            pids both checks found dead, by the rule of README's "Auto mark-dead" (never a pid \
            a process still uses). Prints one line per pid marked. The writers seen are kept \
            in multiproc-exporter.writers in the directory, so that a later run marks the \
            pids of an app that stopped meanwhile. Exit status 1 when the app's processes \
            are not visible from here (another pid namespace) and live gauges are left for \
            it (pids never seen written from here).
            """)

    @Argument(help: "Process id of the dead worker (1 or more). Not with --auto.")
    var pid: Int?

    @Flag(help: "Find the dead workers in /proc and mark them dead, instead of naming one.")
    var auto = false

    @Option(name: .customLong("auto.confirm-after"),
            help: "With --auto: time between the two checks that must both find a pid dead (e.g. 1s, 500ms).")
    var confirmAfter = "1s"

    @OptionGroup var directory: DirectoryOption

    func validate() throws {
        switch (pid, auto) {
        case (nil, false): throw ValidationError("give a PID, or --auto to find dead workers in /proc")
        case (.some, true): throw ValidationError("give either a PID or --auto, not both")
        case (.some(let pid), false) where pid < 1: throw ValidationError("pid must be a positive integer, got \(pid)")
        default: break
        }
        do {
            _ = try DurationParser.seconds(confirmAfter)
        } catch {
            throw ValidationError("--auto.confirm-after: \(error.description)")
        }
    }

    func run() throws {
        try reportingFailures {
            // A death named on the command line is recorded for `compact` (cron, a hook).
            var options = DirectoryCollector.Options()
            options.recordsDeadPids = pid != nil
            let collector = try directory.collector(options: options)
            if let pid {
                let removed = try markDead(pid, in: collector)
                if removed.isEmpty {
                    Output.stderr("multiproc-exporter: no live gauge files for pid \(pid)\n")
                } else {
                    for name in removed { print("removed \(name)") }
                }
                return
            }
            try runAuto(collector)
        }
    }

    /// Two checks `--auto.confirm-after` apart, then mark-dead for what both found dead.
    private func runAuto(_ collector: DirectoryCollector) throws {
        let finder = DeadWorkerFinder(directory: collector.directory)
        var check = try auto(finder.check(markedDead: []))
        if check.decisions.contains(where: { $0.verdict == .skipped(.unconfirmed) }) {
            let pause = (try? DurationParser.seconds(confirmAfter)) ?? 1
            usleep(useconds_t(min(pause, 3600) * 1_000_000))
            check = try auto(finder.check(markedDead: []))
        }
        for (pid, reason) in check.dead {
            let removed = try markDead(pid, in: collector)
            print("marked pid \(pid) dead (\(reason.rawValue)): removed \(removed.isEmpty ? "nothing" : removed.joined(separator: " "))")
        }
        for decision in check.decisions {
            if case .skipped(let reason) = decision.verdict {
                Output.stderr("multiproc-exporter: pid \(decision.pid) not marked dead: \(reason.rawValue)\n")
            }
        }
        if let problem = check.sightingsProblem {
            Output.stderr("multiproc-exporter: cannot keep the writers seen for the next run: \(problem)\n")
        }
        let unseen = check.unseenWithLiveGauges
        if check.pidsVisible == false && unseen > 0 {
            Output.stderr("""
                multiproc-exporter: none of the \(check.decisions.count) pids with metric files is seen running as their \
                writer from here: \(unseen) with live gauges, never seen written from here, not marked dead. Run this \
                where the app's processes are visible (same host and pid namespace; Kubernetes: shareProcessNamespace: true).\n
                """)
            throw ExitCode(1)
        }
    }

    private func auto(_ body: @autoclosure () throws(CollectorError) -> DeadWorkerCheck) throws -> DeadWorkerCheck {
        do { return try body() } catch { throw CommandFailure(error.description) }
    }

    private func markDead(_ pid: Int, in collector: DirectoryCollector) throws -> [String] {
        do { return try collector.markDead(pid: pid) } catch { throw CommandFailure(error.description) }
    }
}
