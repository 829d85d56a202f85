import ArgumentParser
import ExporterHTTP
import MultiprocCollector

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report every metric file's status; exit 1 if any file is corrupt.",
        discussion: """
            Reads the directory from scratch and prints one line per metric file \
            (ok with its layout, or the reasons it is skipped), then totals. The layout says \
            which prometheus_client releases write such files: k4v16 0.18.0 and later, k4v8 \
            0.16.0-0.17.1, k3v8 0.4.0-0.15.x, k4lv8 before 0.4.0. Run it when scrapes look wrong. \
            With --textfile.directory also one line per textfile, and what `serve` would leave out \
            of it (with its default flags, which keep the exporter's own metric names). \
            Exit status: 0 all files fine, 1 some file or textfile has a problem (or a compaction \
            pass was interrupted), 2 a directory cannot be read.
            """)

    @OptionGroup var directory: DirectoryOption

    @OptionGroup var textfiles: TextfileOption

    @Flag(name: [.short, .long], help: "Print only files with problems, and the totals.")
    var quiet = false

    func run() throws {
        try reportingFailures {
            let options = try textfiles.options(reserved: ExporterServer.ownMetricNames(ExporterConfiguration()))
            let report = try directory.collector(options: options).inspect()
            for problem in report.directoryProblems { print("directory: \(problem.reason.rawValue): \(problem.detail)") }
            for status in report.files.sorted(by: { $0.name < $1.name }) {
                if status.isOK {
                    if !quiet {
                        let layout = status.layout?.rawValue ?? "none"
                        print("ok      \(status.name)  layout=\(layout) entries=\(status.entries) used=\(status.bytesUsed)")
                    }
                } else {
                    for problem in status.problems {
                        print("PROBLEM \(status.name)  \(problem.reason.rawValue): \(problem.detail)")
                    }
                }
            }
            if !report.ignoredNames.isEmpty, !quiet {
                print("ignored (not metric files): \(report.ignoredNames.sorted().joined(separator: ", "))")
            }
            if let compaction = report.compaction {
                if let pass = compaction.interruptedPass {
                    print("PROBLEM compaction pass \(pass) was interrupted: `serve` or `compact` settles it before anything else")
                }
                if let error = compaction.journalError { print("PROBLEM \(error)") }
                print("compaction: archives=\(compaction.archives.count) dead_pids_not_folded=\(compaction.deadPids.count)"
                      + (compaction.deadPids.isEmpty ? "" : " (\(compaction.deadPids.prefix(10).joined(separator: ",")))"))
            }
            let textfilesFine = reportTextfiles(report.textfiles)
            let bad = report.files.filter { !$0.isOK }.count
            // Per reason, as multiproc_exporter_file_errors_total counts them: what to alert on.
            printByReason("problems_by_reason", (report.files.flatMap(\.problems) + report.directoryProblems).map(\.reason))
            // Which client releases wrote the files: an old one shows at a glance.
            let layouts = Dictionary(grouping: report.files.compactMap(\.layout), by: { $0 })
            let byLayout = layouts.keys.sorted().map { "\($0.rawValue):\(layouts[$0]!.count)" }.joined(separator: ",")
            print("files=\(report.files.count) with_problems=\(bad) pids=\(report.pids) entries=\(report.entries) "
                  + "bytes_used=\(report.bytesUsed) files_by_layout=\(byLayout)")
            if !report.directoryProblems.isEmpty { throw CommandFailure("cannot read \(directory.multiprocDir ?? "the directory")") }
            if report.hasProblems || !textfilesFine { throw ExitCode(1) }
        }
    }

    /// Prints `label: reason=count …` (reasons in order), unless there are none.
    private func printByReason<Reason: RawRepresentable & Comparable & Hashable>(_ label: String, _ reasons: [Reason]) where Reason.RawValue == String {
        let counts = Dictionary(grouping: reasons, by: { $0 }).mapValues(\.count)
        guard !counts.isEmpty else { return }
        print("\(label): " + counts.keys.sorted().map { "\($0.rawValue)=\(counts[$0]!)" }.joined(separator: " "))
    }

    /// Prints a line per textfile (the files that parsed, then every problem, as `serve` logs
    /// them) and their totals; whether nothing was left out.
    private func reportTextfiles(_ report: TextfileReport?) -> Bool {
        guard let report else { return true }
        if !quiet {
            for file in report.files { print("ok      textfile \(file.path)") }
        }
        for problem in report.problems { print("PROBLEM textfile \(problem)") }
        let withProblems = Set(report.problems.lazy.filter { $0.reason != .directoryUnreadable }.map(\.file))
        let leftOut = withProblems.subtracting(report.files.map(\.path)).count
        printByReason("textfile_problems_by_reason", report.problems.map(\.reason))
        print("textfiles=\(report.files.count + leftOut) with_problems=\(withProblems.count) families=\(report.families.count) bytes=\(report.bytes)")
        return !report.hasErrors
    }
}
