import ArgumentParser
import ExporterHTTP
import MultiprocCollector

struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fold the files of dead pids into archive files, once (for cron, systemd timers, a gunicorn hook).",
        discussion: """
            Does one compaction pass, as `serve --compaction` does every --compaction.interval: the \
            files of pids marked dead (mark-dead, over HTTP or on the command line) at least \
            --compaction.delay ago, and unchanged since, are folded into counter_0.db, \
            histogram_0.db, summary_0.db and gauge_{min,max,sum,mostrecent}_0.db, which \
            prometheus_client reads like any worker's files. A pass a crash interrupted is \
            finished or undone first. Safe to run while an exporter serves the directory: one \
            compactor per directory at a time (a pass waits for another process's to end), and \
            the exporter's scrapes wait for the few milliseconds of a switch. \
            Exit status: 0 done (even if nothing was due), 1 some file could not be folded, \
            2 the directory cannot be used.
            """)

    @OptionGroup var directory: DirectoryOption

    @Option(name: .customLong("compaction.delay"),
            help: "How long a dead pid's files must stay unchanged before they are folded (e.g. 1m, 0s).")
    var delay = "1m"

    func run() throws {
        try reportingFailures {
            let seconds: Double
            do { seconds = try DurationParser.seconds(delay) } catch let error as ConfigurationError { throw CommandFailure(error.description) }
            var options = DirectoryCollector.Options()
            options.recordsDeadPids = true
            let report = try directory.collector(options: options).compact(delay: seconds)
            if let recovered = report.recovered { print("settled an interrupted pass: \(recovered.rawValue)") }
            if !report.pidsRevived.isEmpty { print("revived (files changed, a reused pid): \(report.pidsRevived.joined(separator: " "))") }
            for wipe in report.passesWiped { print("the directory was wiped under \(wipe)") }
            if !report.pidsInUse.isEmpty { print("in use (mapped by a process): \(report.pidsInUse.joined(separator: " "))") }
            for error in report.errors { Output.stderr("multiproc-exporter: compact: \(error)\n") }
            print("folded_pids=\(report.pidsFolded.count) files=\(report.filesFolded) bytes=\(report.bytesFolded) "
                  + "waiting_pids=\(report.pidsWaiting) duration_seconds=\(report.duration)")
            if !report.errors.isEmpty { throw ExitCode(1) }
        }
    }
}
