import Foundation
import Testing
import TestSupport
@testable import MultiprocCollector

/// A textfile directory beside a `.db` directory, read through ``DirectoryCollector``: what is
/// merged, what is left out (each bad input beside good data, which stays served), and that
/// every scrape reads the files again.
@Suite struct TextfileCollectorTests {
    let db = TemporaryDirectory(prefix: "tf-db")
    let textfiles = TemporaryDirectory(prefix: "tf-prom")

    func collector(configure: (inout DirectoryCollector.Options) -> Void = { _ in }) throws -> DirectoryCollector {
        var options = DirectoryCollector.Options()
        options.textfileDirectory = textfiles.path
        configure(&options)
        return try DirectoryCollector(directory: db.path, options: options)
    }

    /// Writes a textfile as `write_to_textfile` does: a temporary file, then `rename`.
    func write(_ name: String, _ text: String) throws {
        let temporary = textfiles.file(name + ".\(getpid()).tmp")
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        #expect(rename(temporary, textfiles.file(name)) == 0)
    }

    func family(_ snapshot: Snapshot, _ name: String) -> MetricFamily? {
        snapshot.families.first { $0.name == name }
    }

    func reasons(_ snapshot: Snapshot) -> [String] {
        (snapshot.textfiles?.problems ?? []).map { "\(($0.file as NSString).lastPathComponent) \($0.family ?? "-") \($0.reason.rawValue)" }
    }

    let good = "# HELP good_total Good.\n# TYPE good_total counter\ngood_total 7\n"

    @Test func familiesMergeAcrossFilesWhenTheyAgreeAndTheFirstFileWins() throws {
        try write("a.prom", "# HELP g G.\n# TYPE g gauge\ng{f=\"a\"} 1\n")
        try write("b.prom", "# HELP g G.\n# TYPE g gauge\ng{f=\"b\"} 2\n")
        try write("c.prom", "# HELP g Other.\n# TYPE g gauge\ng{f=\"c\"} 3\n")
        try write("d.prom", "# TYPE g untyped\ng{f=\"d\"} 4\n")
        try write("e.prom", "# TYPE g gauge\ng{f=\"a\"} 5\n")
        try write("f.prom", "# TYPE g gauge\ng{f=\"b\",x=\"\"} 6\n")
        try write("g.prom", "# TYPE g gauge\ng{f=\"g\"} 7\ng{f=\"g\"} 8\n" + good)
        let snapshot = try collector().collect()
        #expect(family(snapshot, "g") == MetricFamily(name: "g", type: .gauge, help: "G.", samples: [
            Sample(name: "g", labels: [Label(name: "f", value: "a")], value: 1),
            Sample(name: "g", labels: [Label(name: "f", value: "b")], value: 2),
        ]))
        #expect(reasons(snapshot) == [
            "c.prom g conflicting_family", "d.prom g conflicting_family", "e.prom g duplicate_sample",
            "f.prom g duplicate_sample", "g.prom g duplicate_sample",
        ])
        #expect(family(snapshot, "good")?.samples == [Sample(name: "good_total", labels: [], value: 7)])
        #expect(snapshot.textfiles?.files.count == 7)
        #expect(snapshot.textfiles?.hasErrors == true)
        let details = snapshot.textfiles!.problems.map(\.detail)
        try #require(details.count == 5)
        #expect(details[0] == "HELP differs from the one in \(textfiles.file("a.prom"))")
        #expect(details[4] == "line 3 repeats the sample of line 2: g{f=\"g\"}")
    }

    /// Samples whose names differ only where an escaping writes them alike are one series in
    /// that format (found by fuzzing: `ключ.x` and `ключ/x` are both `_____x` in text 0.0.4).
    @Test func samplesThatAnEscapingMakesOneAreRepeatedSamples() throws {
        try write("a.prom", "# TYPE g gauge\ng{\"ключ.x\"=\"v\"} 1\ng{\"ключ/x\"=\"v\"} 2\n")
        try write("b.prom", "# TYPE h gauge\nh{a_b=\"1\"} 1\n")
        try write("c.prom", "# TYPE h gauge\nh{\"a.b\"=\"1\"} 2\nh{\"a.b\"=\"2\"} 3\n")
        try write("d.prom", "# TYPE h gauge\nh{\"a-b\"=\"3\"} 4\n")
        let snapshot = try collector().collect()
        #expect(reasons(snapshot) == ["a.prom g duplicate_sample", "c.prom h duplicate_sample"])
        #expect(snapshot.textfiles!.problems[0].detail.hasSuffix("once names are written with escaping=underscores"))
        #expect(family(snapshot, "h")?.samples.map(\.value) == [1, 4])
        let text = String(decoding: snapshot.body(.prometheusText004), as: UTF8.self)
        #expect(text == "# HELP h Metric read from \(textfiles.file("b.prom")), \(textfiles.file("d.prom"))\n# TYPE h gauge\nh{a_b=\"1\"} 1.0\nh{a_b=\"3\"} 4.0\n")
    }

    @Test func helpComesFromAnyFileElseNodeExportersDefault() throws {
        try write("a.prom", "x 1\ny 1\n")
        try write("b.prom", "# HELP x Doc.\nx{a=\"1\"} 2\ny{a=\"1\"} 2\n")
        let snapshot = try collector().collect()
        #expect(family(snapshot, "x")?.help == "Doc.")
        #expect(family(snapshot, "y")?.help == "Metric read from \(textfiles.file("a.prom")), \(textfiles.file("b.prom"))")
        #expect(reasons(snapshot).isEmpty)
    }

    @Test func aNameTakenByAnotherFamilyInAnyEscapingIsAConflict() throws {
        try write("a.prom", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n# TYPE a_b gauge\na_b 1\n# TYPE c_total counter\nc_total 1\n")
        try write("b.prom", "# TYPE h_count gauge\nh_count 5\n# TYPE \"a.b\" gauge\n{\"a.b\"} 2\n# TYPE c gauge\nc 3\n" + good)
        // `escaping=values` writes the UTF-8 name `x.y` as the legacy name `U__x_2e_y`.
        try write("c.prom", "# TYPE \"x.y\" gauge\n{\"x.y\"} 1\n# TYPE U__x_2e_y gauge\nU__x_2e_y 2\n")
        let snapshot = try collector().collect()
        #expect(reasons(snapshot) == ["b.prom h_count conflicting_family", "b.prom a.b conflicting_family", "b.prom c conflicting_family",
                                      "c.prom U__x_2e_y conflicting_family"])
        #expect(family(snapshot, "a_b")?.samples.map(\.value) == [1])
        #expect(family(snapshot, "good") != nil)
        let text = snapshot.text
        #expect(text.components(separatedBy: "# TYPE a_b ").count == 2)
    }

    @Test func familiesTheDBFilesHaveAreTheirs() throws {
        let writer = DBWriter(path: db.file("counter_1.db"))
        writer.set(DBWriter.key(metric: "requests", sample: "requests_total", help: "Requests."), 3)
        try write("a.prom", "# HELP requests_total From a textfile.\n# TYPE requests_total counter\nrequests_total 99\n# TYPE requests gauge\nrequests 1\n" + good)
        let snapshot = try collector().collect()
        #expect(reasons(snapshot) == ["a.prom requests shadowed_by_db_files", "a.prom requests shadowed_by_db_files"])
        #expect(family(snapshot, "requests") == MetricFamily(name: "requests", type: .counter, help: "Requests.",
                                                             samples: [Sample(name: "requests_total", labels: [], value: 3)]))
        #expect(family(snapshot, "good") != nil)
    }

    @Test func namesTheCallerServesItselfAreLeftOut() throws {
        try write("a.prom", "process_cpu_seconds_total 1\nmultiproc_exporter_bytes 2\n{\"multiproc.exporter_x\"} 3\nprocess_other 4\n")
        let snapshot = try collector {
            $0.textfileOptions.reservedFamilies = [MetricFamily(name: "process_cpu_seconds", type: .counter, help: "",
                                                                samples: [Sample(name: "process_cpu_seconds_total", labels: [], value: 0)])]
            $0.textfileOptions.reservedPrefix = "multiproc_exporter_"
        }.collect()
        #expect(reasons(snapshot) == ["a.prom process_cpu_seconds_total reserved_name", "a.prom multiproc_exporter_bytes reserved_name",
                                      "a.prom multiproc.exporter_x reserved_name"])
        #expect(family(snapshot, "process_other") != nil)
    }

    @Test func badFilesAreLeftOutWholeBesideGoodOnes() throws {
        try write("good.prom", good)
        try write("syntax.prom", "ok 1\nbroken{\n")
        try write("stamped.prom", "ok2 1 1700000000000\n")
        try write("huge.prom", "# HELP big Big.\n" + String(repeating: "big{i=\"0\"} 1\n", count: 100))
        try write("ignored.txt", "not 1\n")
        try FileManager.default.createDirectory(atPath: textfiles.file("dir.prom"), withIntermediateDirectories: false)
        #expect(mkfifo(textfiles.file("fifo.prom"), 0o644) == 0)
        #expect(symlink("loop2.prom", textfiles.file("loop1.prom")) == 0)
        #expect(symlink("loop1.prom", textfiles.file("loop2.prom")) == 0)
        #expect(symlink("nowhere", textfiles.file("dangling.prom")) == 0)
        let outside = TemporaryDirectory(prefix: "tf-outside")
        try Data("linked 5\n".utf8).write(to: URL(fileURLWithPath: outside.file("x")))
        #expect(symlink(outside.file("x"), textfiles.file("linked.prom")) == 0)
        let snapshot = try collector { $0.textfileOptions.maxFileSize = 1000 }.collect()
        #expect(Set(reasons(snapshot)) == [
            "syntax.prom - parse_error", "stamped.prom - timestamp", "huge.prom - too_large", "dir.prom - not_regular_file",
            "fifo.prom - not_regular_file", "loop1.prom - symlink_loop", "loop2.prom - symlink_loop", "dangling.prom - unreadable",
        ])
        #expect(snapshot.families.map(\.name) == ["good", "linked"])
        #expect(snapshot.textfiles!.files.map { ($0.path as NSString).lastPathComponent } == ["good.prom", "linked.prom"])
        #expect(snapshot.textfiles!.problems.first { $0.reason == .parseError }?.detail.hasPrefix("line 2: ") == true)
    }

    @Test func aFileGoneBetweenListingAndOpeningIsVanished() throws {
        let directory = open(textfiles.path, O_RDONLY | O_DIRECTORY)
        defer { close(directory) }
        guard case .problem(let reason, _) = TextfileReader.read(name: "gone.prom", in: directory, maxSize: 100) else {
            Issue.record("read a file that does not exist")
            return
        }
        #expect(reason == .vanished)
    }

    @Test func everyScrapeReadsTheFilesAgain() throws {
        let collector = try collector()
        try write("job.prom", "# TYPE last_success gauge\nlast_success 1\n")
        #expect(family(collector.collect(), "last_success")?.samples.first?.value == 1)
        try write("job.prom", "# TYPE last_success gauge\nlast_success 2\n")
        let second = collector.collect()
        #expect(family(second, "last_success")?.samples.first?.value == 2)
        var info = stat()
        stat(textfiles.file("job.prom"), &info)
        #expect(second.textfiles?.files == [TextfileReport.File(path: textfiles.file("job.prom"), mtime: Double(info.st_mtim.tv_sec))])
        try write("job.prom", "broken\n")
        let broken = collector.collect()
        #expect(family(broken, "last_success") == nil && reasons(broken) == ["job.prom - parse_error"])
        unlink(textfiles.file("job.prom"))
        let gone = collector.collect()
        #expect(gone.families.isEmpty && gone.textfiles?.problems.isEmpty == true && gone.textfiles?.files.isEmpty == true)
    }

    @Test func theDirectoryMustExistAtStartAndMayGoLater() throws {
        var options = DirectoryCollector.Options()
        options.textfileDirectory = textfiles.file("missing")
        #expect(throws: CollectorError.directoryMissing(path: textfiles.file("missing"))) {
            try DirectoryCollector(directory: db.path, options: options)
        }
        let writer = DBWriter(path: db.file("counter_1.db"))
        writer.set(DBWriter.key(metric: "requests", sample: "requests_total"), 3)
        let collector = try collector()
        textfiles.remove()
        let snapshot = collector.collect()
        #expect(snapshot.families.map(\.name) == ["requests"])
        #expect(reasons(snapshot) == ["\((textfiles.path as NSString).lastPathComponent) - directory_unreadable"])
    }

    @Test func servedInNameOrderBetweenTheDBFamiliesInEveryFormat() throws {
        let writer = DBWriter(path: db.file("counter_1.db"))
        writer.set(DBWriter.key(metric: "b", sample: "b_total", help: "B."), 1)
        writer.set(DBWriter.key(metric: "d", sample: "d_total", help: "D."), 1)
        try write("x.prom", "# HELP a A.\n# TYPE a gauge\na 1\n# HELP c C.\n# TYPE c gauge\nc 1\n# HELP e E.\n# TYPE e gauge\ne 1\n")
        let snapshot = try collector().collect()
        #expect(snapshot.families.map(\.name) == ["a", "b", "c", "d", "e"])
        let om = String(decoding: snapshot.body(.negotiate(accept: "application/openmetrics-text")), as: UTF8.self)
        #expect(om.components(separatedBy: "# EOF\n").count == 2 && om.hasSuffix("c 1.0\n# HELP d D.\n# TYPE d counter\nd_total 1.0\n# HELP e E.\n# TYPE e gauge\ne 1.0\n# EOF\n"))
        #expect(snapshot.text.hasPrefix("# HELP a A.\n# TYPE a gauge\na 1.0\n# HELP b_total B.\n"))
    }
}
