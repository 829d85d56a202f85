import Foundation
import MultiprocCollector
import Testing
import TestSupport

/// `multiproc-exporter check`, run as the built binary on hostile directories.
@Suite("check command: per-file status, totals, exit codes")
struct CheckCommandTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [Substring] { stdout.split(separator: "\n") }
    }

    static func check(_ arguments: [String], environment: [String: String]? = nil) throws -> Run {
        try run(["check"] + arguments, environment: environment)
    }

    /// Runs the built binary with `arguments` (any subcommand) and collects what it printed.
    static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> Run {
        let exit = try ChildProcess.run(LifecycleTests.binary!, arguments, environment: environment)
        return Run(status: exit.status, stdout: exit.stdout, stderr: exit.stderr)
    }

    @Test(.enabled(if: LifecycleTests.binary != nil)) func goodDirectoryIsExitZero() throws {
        let fixture = try FixtureDirectory.make()
        defer { fixture.remove() }
        let run = try Self.check(["--multiproc-dir", fixture.path])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.lines.count == 7)
        #expect(run.lines.filter { $0.hasPrefix("ok      ") }.count == 6)
        #expect(run.lines.contains { $0.hasPrefix("ok      counter_101.db  layout=k4v16 entries=2 used=") })
        #expect(run.lines.last?.hasPrefix("files=6 with_problems=0 pids=2 entries=12 bytes_used=") == true)
        #expect(run.lines.last?.hasSuffix(" files_by_layout=k4v16:6") == true)
        #expect(!run.stdout.contains("problems_by_reason"))
    }

    @Test(.enabled(if: LifecycleTests.binary != nil)) func oldClientLayoutsAreNamed() throws {
        let fixture = try FixtureDirectory.make()
        defer { fixture.remove() }
        let entry = MetricFileWriter.Entry(metric: "jobs", sample: "jobs_total", labels: ["kind": "a"], help: "Jobs done.", value: 1)
        for (pid, layout) in [(201, FileLayout.k3v8), (202, .k4v8), (203, .k4lv8)] {
            try MetricFileWriter.write([entry], to: fixture.url, name: "counter_\(pid).db", layout: layout)
        }
        let run = try Self.check(["--multiproc-dir", fixture.path])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        for (pid, layout) in [(201, "k3v8"), (202, "k4v8"), (203, "k4lv8"), (101, "k4v16")] {
            #expect(run.lines.contains { $0.hasPrefix("ok      counter_\(pid).db  layout=\(layout) entries=") }, "\(pid)")
        }
        #expect(run.lines.last?.hasSuffix(" files_by_layout=k3v8:1,k4lv8:1,k4v16:6,k4v8:1") == true, "\(run.lines.last ?? "")")
    }

    @Test(.enabled(if: LifecycleTests.binary != nil)) func environmentVariableIsTheDefault() throws {
        let fixture = try FixtureDirectory.make()
        defer { fixture.remove() }
        var environment = ProcessInfo.processInfo.environment
        environment["PROMETHEUS_MULTIPROC_DIR"] = fixture.path
        let run = try Self.check(["-q"], environment: environment)
        #expect(run.status == 0)
        #expect(run.lines.count == 1 && run.lines[0].hasPrefix("files=6 with_problems=0"))
    }

    /// Every hostile file of the server tests, at once: one PROBLEM line per problem, ignored
    /// names listed, totals and a per-reason line, exit status 1.
    @Test(.enabled(if: LifecycleTests.binary != nil)) func hostileDirectoryIsExitOneWithAReasonPerFile() throws {
        let fixture = try FixtureDirectory.make()
        let outside = try FixtureDirectory.make()
        defer { fixture.remove(); outside.remove() }
        var expected: [String: [FileProblem.Reason]] = [:]
        for (i, hostile) in HostileCase.all.enumerated() {
            // Each case writes counter_900.db: give every case its own pid.
            let scratch = try FixtureDirectory.make()
            defer { scratch.remove() }
            for name in scratch.files() { try FileManager.default.removeItem(atPath: scratch.path + "/" + name) }
            try hostile.install(scratch.url, outside.url)
            for name in scratch.files() {
                let renamed = name.replacingOccurrences(of: "_900.db", with: "_\(900 + i).db")
                try FileManager.default.moveItem(atPath: scratch.path + "/" + name, toPath: fixture.path + "/" + renamed)
                if name == hostile.file, !hostile.reasons.isEmpty { expected[renamed] = hostile.reasons }
            }
        }
        for quiet in [false, true] {
            let run = try Self.check(["--multiproc-dir", fixture.path] + (quiet ? ["-q"] : []))
            #expect(run.status == 1, "\(run.stderr)")
            let problems = run.lines.filter { $0.hasPrefix("PROBLEM ") }
            #expect(problems.count == expected.values.map(\.count).reduce(0, +), "\(run.stdout)")
            for (file, reasons) in expected {
                for reason in reasons {
                    #expect(problems.contains { $0.hasPrefix("PROBLEM \(file)  \(reason.rawValue): ") }, "\(file) \(reason)")
                }
            }
            #expect(run.lines.contains { $0.hasPrefix("ok      counter_101.db") } == !quiet)
            #expect(run.lines.contains { $0.hasPrefix("ignored (not metric files): ") && $0.contains("foo.db") && $0.contains("x.db") } == !quiet)
            let total = try #require(run.lines.last)
            #expect(total.hasPrefix("files=") && total.contains(" with_problems=\(expected.count) "), "\(total)")
            let byReason = try #require(run.lines.first { $0.hasPrefix("problems_by_reason: ") })
            #expect(byReason.contains("empty_file=1") && byReason.contains("key_length_out_of_bounds=2") && byReason.contains("symlink=1"), "\(byReason)")
            #expect(!run.stdout.contains("outside_total") && !run.stdout.contains("ignored_total"))
        }
    }

    /// `--textfile.directory`: a line per textfile, what `serve` would leave out (a file that
    /// does not parse, a family taking the exporter's own name, one the `.db` files have), totals
    /// before the `.db` totals, exit status 1 while anything is left out.
    @Test(.enabled(if: LifecycleTests.binary != nil)) func textfilesAreCheckedAsServeReadsThem() throws {
        let fixture = try FixtureDirectory.make()
        let textfiles = try FixtureDirectory.make()
        defer { fixture.remove(); textfiles.remove() }
        for name in textfiles.files() { try FileManager.default.removeItem(atPath: textfiles.path + "/" + name) }
        func write(_ name: String, _ text: String) throws {
            try Data(text.utf8).write(to: textfiles.url.appendingPathComponent(name))
        }
        try write("app_info.prom", "# HELP app_info App.\n# TYPE app_info gauge\napp_info{version=\"1.2\"} 1\n")
        let good = try Self.check(["--multiproc-dir", fixture.path, "--textfile.directory", textfiles.path])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(good.lines.contains("ok      textfile \(textfiles.path)/app_info.prom"), "\(good.stdout)")
        #expect(good.lines.contains { $0.hasPrefix("textfiles=1 with_problems=0 families=1 bytes=") }, "\(good.stdout)")
        #expect(good.lines.last?.hasPrefix("files=6 with_problems=0 ") == true)

        try write("broken.prom", "not a sample line\n")
        try write("mixed.prom", "# TYPE process_open_fds gauge\nprocess_open_fds 3\n# TYPE queue_depth gauge\nqueue_depth 7\n")
        for quiet in [false, true] {
            let run = try Self.check(["--multiproc-dir", fixture.path, "--textfile.directory", textfiles.path] + (quiet ? ["-q"] : []))
            #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
            #expect(run.lines.contains("ok      textfile \(textfiles.path)/mixed.prom") == !quiet, "\(run.stdout)")
            #expect(run.lines.contains { $0.hasPrefix("PROBLEM textfile \(textfiles.path)/broken.prom: parse_error: line 1: ") }, "\(run.stdout)")
            #expect(run.lines.contains("PROBLEM textfile \(textfiles.path)/mixed.prom: family process_open_fds: reserved_name: "
                                       + "the exporter serves a metric of this name itself"), "\(run.stdout)")
            #expect(run.lines.contains("textfile_problems_by_reason: parse_error=1 reserved_name=1"), "\(run.stdout)")
            #expect(run.lines.contains { $0.hasPrefix("textfiles=3 with_problems=2 families=2 bytes=") }, "\(run.stdout)")
            #expect(run.lines.last?.hasPrefix("files=6 with_problems=0 ") == true)
        }

        let missing = try Self.check(["--multiproc-dir", fixture.path, "--textfile.directory", textfiles.path + "/nope"])
        #expect(missing.status == 2 && missing.stdout.isEmpty && missing.stderr.contains("/nope"), "\(missing.stderr)")
    }

    @Test(.enabled(if: LifecycleTests.binary != nil), arguments: ["missing", "file", "none"])
    func unreadableDirectoryIsExitTwo(_ kind: String) throws {
        let fixture = try FixtureDirectory.make()
        defer { fixture.remove() }
        var environment = ProcessInfo.processInfo.environment
        environment["PROMETHEUS_MULTIPROC_DIR"] = nil
        let arguments: [String]
        switch kind {
        case "missing": arguments = ["--multiproc-dir", fixture.path + "/nope"]
        case "file": arguments = ["--multiproc-dir", fixture.path + "/counter_101.db"]
        default: arguments = []
        }
        let run = try Self.check(arguments, environment: environment)
        #expect(run.status == 2)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.hasPrefix("multiproc-exporter: ") && run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
    }
}
