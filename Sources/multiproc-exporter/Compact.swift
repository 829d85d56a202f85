import ArgumentParser
import ExporterHTTP
import MultiprocCollector

struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fold the files of dead pids into archive files, once (for cron, systemd timers, a gunicorn hook).",
        discussion: """
            Does one compaction pass, as `serve --compaction` does every --compaction.interval: the \
            files of pids recorded dead at least --compaction.delay ago, and unchanged since, are \
            folded into counter_0.db, histogram_0.db, summary_0.db and \
            gauge_{min,max,sum,mostrecent}_0.db, which prometheus_client reads like any worker's \
            files. Deaths are recorded (in multiproc-exporter.journal, in the directory) by \
            `multiproc-exporter mark-dead PID`, and by `serve` for POST /mark-dead/<pid> and \
            --auto-mark-dead when it runs with --compaction or the directory has a journal. When \
            nothing is folded, the last line says why. A pass a crash interrupted is settled \
            first. Safe to run while an exporter serves the directory: one compactor per \
            directory at a time (a pass waits for another process's to end), and the exporter's \
            scrapes wait for the few milliseconds of a switch. \
            Exit status: 0 done (even if nothing was due), 1 some file could not be folded, \
            2 the directory cannot be used.
            """)

    @OptionGroup var directory: DirectoryOption

    @Option(name: .customLong("compaction.delay"),
            help: "How long a dead pid's files must stay unchanged before they are folded (e.g. 1m, 0s).")
    var delay = "1m"

    @OptionGroup var pass: CompactionPassOption

    func run() throws {
        try reportingFailures {
            let seconds: Double
            var options = DirectoryCollector.Options()
            options.recordsDeadPids = true
            do {
                seconds = try DurationParser.seconds(delay)
                try pass.apply(to: &options)
            } catch let error as ConfigurationError { throw CommandFailure(error.description) }
            let report = try directory.collector(options: options).compact(delay: seconds)
            if let recovered = report.recovered { print("settled an interrupted pass: \(recovered.rawValue)") }
            if !report.pidsRevived.isEmpty { print("revived (files changed, a reused pid): \(report.pidsRevived.joined(separator: " "))") }
            for wipe in report.passesWiped { print("the directory was wiped under \(wipe)") }
            if !report.pidsInUse.isEmpty { print("in use (mapped by a process): \(report.pidsInUse.joined(separator: " "))") }
            for error in report.errors { Output.stderr("multiproc-exporter: compact: \(error)\n") }
            print("folded_pids=\(report.pidsFolded.count) files=\(report.filesFolded) bytes=\(report.bytesFolded) "
                  + "waiting_pids=\(report.pidsWaiting) deferred_pids=\(report.pidsDeferred) duration_seconds=\(report.duration)")
            if report.pidsFolded.isEmpty, report.errors.isEmpty, let why = Self.whyNothingFolded(report, delay: delay) { print(why) }
            if !report.errors.isEmpty { throw ExitCode(1) }
        }
    }

    /// One line saying why a pass folded nothing, for whoever runs it from cron and wonders.
    static func whyNothingFolded(_ report: CompactionReport, delay: String) -> String? {
        if !report.journalExists {
            return "nothing folded: no pid was ever recorded dead here (no multiproc-exporter.journal). Record deaths with "
                + "`multiproc-exporter mark-dead PID`, or run `serve --compaction` so that its mark-dead does."
        }
        if report.deadPidsRecorded == 0 { return "nothing folded: no pid is recorded dead (every recorded death was folded or revived)" }
        if report.pidsWaiting > 0, report.pidsWaiting == report.deadPidsRecorded {
            return "nothing folded: the \(report.pidsWaiting) pids recorded dead died less than --compaction.delay (\(delay)) ago"
        }
        return nil
    }
}
