import ExporterHTTP
import Foundation
import MultiprocSupport
import MultiprocCollector
import Testing
import TestSupport

/// One hostile thing placed in a metric directory next to good files.
struct HostileCase: CustomTestStringConvertible, Sendable {
    var name: String
    /// Creates the hostile file(s) in the directory (and may use a second, outside directory).
    var install: @Sendable (_ directory: URL, _ outside: URL) throws -> Void
    /// Reasons counted in `multiproc_exporter_file_errors_total`, each once.
    var reasons: [FileProblem.Reason]
    /// The file that carries the problems (for the log check).
    var file: String?
    /// Entries of the hostile file that must still be served: the reference directory gets
    /// them in a clean file of the same name.
    var kept: [MetricFileWriter.Entry] = []

    var testDescription: String { name }
}

/// Raw `.db` images for hostile files.
enum HostileBytes {
    static let keptEntry = MetricFileWriter.Entry(metric: "kept", sample: "kept_total", labels: ["k": "v"], help: "Kept.", value: 5)

    static func entry(key: [UInt8], lengthField: Int32? = nil, value: Double = 1) -> [UInt8] {
        var out: [UInt8] = []
        withUnsafeBytes(of: (lengthField ?? Int32(key.count)).littleEndian) { out += $0 }
        out += key + [UInt8](repeating: 0x20, count: 8 - (4 + key.count) % 8)
        withUnsafeBytes(of: (value, 0.0)) { out += $0 }
        return out
    }

    static func entry(_ e: MetricFileWriter.Entry) -> [UInt8] { entry(key: Array(MetricFileWriter.key(e).utf8), value: e.value) }

    /// Header + entries, `used` as given (default: the real end), zero tail up to `size`.
    static func file(_ entries: [[UInt8]], used: Int32? = nil, size: Int = 65536) -> [UInt8] {
        let body = entries.flatMap { $0 }
        var out: [UInt8] = []
        withUnsafeBytes(of: (used ?? Int32(8 + body.count)).littleEndian) { out += $0 }
        out += [0, 0, 0, 0] + body
        return out + [UInt8](repeating: 0, count: max(0, size - out.count))
    }

    /// The first page of an SQLite database ("SQLite format 3\0", page size 4096, …).
    static let sqlite: [UInt8] = Array("SQLite format 3\0".utf8) + [0x10, 0x00, 0x01, 0x01, 0x00, 0x40, 0x20, 0x20]
        + [UInt8](repeating: 0, count: 4096 - 24)

    static func key(_ text: String) -> [UInt8] { Array(text.utf8) }
}

extension HostileCase {
    static func file(_ name: String, _ reasons: [FileProblem.Reason], kept: [MetricFileWriter.Entry] = [],
                     _ bytes: @escaping @Sendable () -> [UInt8]) -> HostileCase {
        HostileCase(name: name, install: { dir, _ in try Data(bytes()).write(to: dir.appendingPathComponent("counter_900.db")) },
                    reasons: reasons, file: "counter_900.db", kept: kept)
    }

    static let kept = HostileBytes.keptEntry
    static let keptBytes = HostileBytes.entry(HostileBytes.keptEntry)

    static let all: [HostileCase] = [
        file("0-byte file", [.emptyFile]) { [] },
        file("3-byte file", [.shortHeader]) { [1, 0, 0] },
        file("used beyond the end of the file", [.usedBeyondFile], kept: [kept]) { HostileBytes.file([keptBytes], used: 1_000_000, size: 8 + keptBytes.count) },
        file("used = 4, below the header", [.usedBelowHeader]) { HostileBytes.file([keptBytes], used: 4) },
        file("used negative", [.usedBelowHeader]) { HostileBytes.file([keptBytes], used: -8) },
        file("negative key length", [.keyLengthOutOfBounds], kept: [kept]) {
            HostileBytes.file([keptBytes, HostileBytes.entry(key: HostileBytes.key(#"["x", "x_total", {}, "h"]"#), lengthField: -5)])
        },
        file("huge key length", [.keyLengthOutOfBounds], kept: [kept]) {
            HostileBytes.file([keptBytes, HostileBytes.entry(key: HostileBytes.key(#"["x", "x_total", {}, "h"]"#), lengthField: .max)])
        },
        file("key with invalid UTF-8", [.invalidUTF8Key], kept: [kept]) {
            HostileBytes.file([HostileBytes.entry(key: HostileBytes.key(#"["x", "x_total", {}, ""#) + [0xFF, 0xFE] + HostileBytes.key(#""]"#)), keptBytes])
        },
        file("key that is not JSON", [.invalidJSONKey], kept: [kept]) {
            HostileBytes.file([HostileBytes.entry(key: HostileBytes.key(#"["x", "x_total", {}, "h""#)), keptBytes])
        },
        file("key that is a JSON object", [.unexpectedKeyShape], kept: [kept]) {
            HostileBytes.file([HostileBytes.entry(key: HostileBytes.key(#"{"metric": "x"}"#)), keptBytes])
        },
        file("key with a numeric label value", [.unexpectedKeyShape], kept: [kept]) {
            HostileBytes.file([HostileBytes.entry(key: HostileBytes.key(#"["x", "x_total", {"a": 1}, "h"]"#)), keptBytes])
        },
        file("SQLite database under a metric file name", [.usedBeyondFile]) { HostileBytes.sqlite },
        HostileCase(name: "NaN and infinite values (not a problem)", install: { dir, _ in
            try MetricFileWriter.write(specialValues, to: dir, name: "counter_900.db")
        }, reasons: [], file: nil, kept: specialValues),
        HostileCase(name: "names that are not metric files, a directory x.db, an SQLite file", install: { dir, _ in
            let valid = HostileBytes.file([HostileBytes.entry(MetricFileWriter.Entry(metric: "ignored", sample: "ignored_total", help: "", value: 1))])
            for name in ["foo.db", "counter_.db", "counter_abc.db", "gauge_weird_1.db", "counter_1.db.tmp", "counter_-1.db", "COUNTER_1.db"] {
                try Data(valid).write(to: dir.appendingPathComponent(name))
            }
            try Data(HostileBytes.sqlite).write(to: dir.appendingPathComponent("metrics.sqlite"))
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("x.db"), withIntermediateDirectories: false)
        }, reasons: [], file: nil),
        HostileCase(name: "symlink to a file outside the directory (not followed)", install: { dir, outside in
            try MetricFileWriter.write([MetricFileWriter.Entry(metric: "outside", sample: "outside_total", help: "", value: 1)],
                                       to: outside, name: "counter_3.db")
            try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("counter_900.db"),
                                                       withDestinationURL: outside.appendingPathComponent("counter_3.db"))
        }, reasons: [.symlink], file: "counter_900.db"),
        HostileCase(name: "directory with a metric file name", install: { dir, _ in
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("counter_900.db"), withIntermediateDirectories: false)
        }, reasons: [.notRegularFile], file: "counter_900.db"),
    ]

    static let specialValues: [MetricFileWriter.Entry] = [
        .init(metric: "special", sample: "special_total", labels: ["v": "nan"], help: "Special.", value: .nan),
        .init(metric: "special", sample: "special_total", labels: ["v": "inf"], help: "Special.", value: .infinity),
        .init(metric: "special", sample: "special_total", labels: ["v": "-inf"], help: "Special.", value: -.infinity),
    ]
}

@Suite("Hostile metric files through the real server")
struct HostileFilesTests {

    /// The body of a directory holding only the good fixture files (plus `kept` entries).
    static func referenceBody(kept: [MetricFileWriter.Entry], keptName: String?, format: ExpositionFormat = .prometheusText004) throws -> [UInt8] {
        let reference = try FixtureDirectory.make()
        defer { reference.remove() }
        if !kept.isEmpty { try MetricFileWriter.write(kept, to: reference.url, name: keptName ?? "counter_900.db") }
        return try DirectoryCollector(directory: reference.path).collect().body(format)
    }

    /// The merged part of a `/metrics` body: everything before the exporter's own families.
    static func mergedPart(_ body: [UInt8]) -> [UInt8] {
        let text = String(decoding: body, as: UTF8.self)
        guard let range = text.range(of: "# HELP multiproc_exporter_build_info") else { return body }
        return Array(text[..<range.lowerBound].utf8)
    }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    static func errorCount(_ body: String, _ reason: FileProblem.Reason) -> Double? {
        let prefix = "multiproc_exporter_file_errors_total{reason=\"\(reason.rawValue)\"} "
        guard let line = body.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        return Double(line.dropFirst(prefix.count))
    }

    @Test(arguments: HostileCase.all)
    func skippedCountedLoggedOnceOthersExact(_ hostile: HostileCase) throws {
        let outside = try FixtureDirectory.make()
        defer { outside.remove() }
        try TestServer.with { server in
            try hostile.install(server.fixture.url, outside.url)
            let expected = try Self.referenceBody(kept: hostile.kept, keptName: hostile.file)
            for scrape in 0..<3 {
                let r = try server.get("/metrics")
                #expect(r.status == 200)
                #expect(String(decoding: Self.mergedPart(r.body), as: UTF8.self) == String(decoding: expected, as: UTF8.self),
                        "scrape \(scrape): other files' output must stay exact")
                for reason in FileProblem.Reason.allCases {
                    let count = hostile.reasons.filter { $0 == reason }.count
                    #expect(Self.errorCount(r.text, reason) == Double(count), "\(reason.rawValue), scrape \(scrape)")
                }
            }
            let warnings = server.log.all.filter { $0.contains("level=warn") }
            #expect(warnings.count == hostile.reasons.count, "logged once per problem: \(warnings)")
            for reason in hostile.reasons {
                #expect(warnings.contains { $0.contains("reason=\(reason.rawValue)") && $0.contains("file=\(hostile.file ?? "")") })
            }
            #expect(!server.log.all.contains { $0.contains("outside_total") || $0.contains("ignored_total") })
            #expect(try server.get("/healthz").status == 200)
        }
    }

    @Test func nanAndInfinityAreRenderedAsPythonDoes() throws {
        try TestServer.with { server in
            try MetricFileWriter.write(HostileCase.specialValues, to: server.fixture.url, name: "counter_900.db")
            let text = try server.get("/metrics").text
            #expect(text.contains("special_total{v=\"nan\"} NaN\n"))
            #expect(text.contains("special_total{v=\"inf\"} +Inf\n"))
            #expect(text.contains("special_total{v=\"-inf\"} -Inf\n"))
            let om = try server.get("/metrics", headers: [("Accept", "application/openmetrics-text")]).text
            #expect(om.contains("special_total{v=\"nan\"} NaN\n") && om.hasSuffix("# EOF\n"))
        }
    }

    /// Files deleted after the listing and before they are opened. The collector reuses a
    /// listing while the directory's mtime stands still, so deleting files and putting the
    /// mtime back makes that window deterministic (files already mapped are read through their
    /// mapping, so the deleted ones are files that could not be mapped last time: empty ones).
    /// A counter file is counted as `vanished`; a live gauge file (removed by mark-dead at any
    /// moment) is not an error.
    @Test func filesDeletedBetweenListingAndReading() throws {
        try TestServer.with { server in
            let dir = server.fixture.path
            for name in ["counter_777.db", "gauge_livesum_777.db"] { FileManager.default.createFile(atPath: dir + "/" + name, contents: nil) }
            let past = Date().addingTimeInterval(-30)
            try FileManager.default.setAttributes([.modificationDate: past], ofItemAtPath: dir)
            let first = try server.get("/metrics")  // lists the directory and keeps the listing
            #expect(Self.errorCount(first.text, .emptyFile) == 2)
            try FileManager.default.removeItem(atPath: dir + "/counter_777.db")
            try FileManager.default.removeItem(atPath: dir + "/gauge_livesum_777.db")
            try FileManager.default.setAttributes([.modificationDate: past], ofItemAtPath: dir)
            let r = try server.get("/metrics")
            #expect(r.status == 200)
            #expect(Self.errorCount(r.text, .vanished) == 1)
            #expect(Self.errorCount(r.text, .emptyFile) == 2)
            let vanished = server.log.all.filter { $0.contains("reason=vanished") }
            #expect(vanished.count == 1 && vanished[0].contains("file=counter_777.db"), "\(vanished)")
            #expect(Self.text(Self.mergedPart(r.body)) == Self.text(try Self.referenceBody(kept: [], keptName: nil)))
        }
    }

    @Test func directoryRemovedAndRecreated() throws {
        try TestServer.with { server in
            let expected = try Self.referenceBody(kept: [], keptName: nil)
            #expect(Self.text(Self.mergedPart(try server.get("/metrics").body)) == Self.text(expected))
            server.fixture.remove()
            let gone = try server.get("/metrics")
            #expect(gone.status == 200 && Self.mergedPart(gone.body).isEmpty)
            #expect(Self.errorCount(gone.text, .directoryUnreadable) == 1)
            // Recreated (an application restart wipes and recreates it), with the same files.
            let fresh = try FixtureDirectory.make()
            defer { fresh.remove() }
            try FileManager.default.copyItem(atPath: fresh.path, toPath: server.fixture.path)
            for _ in 0..<2 {
                let back = try server.get("/metrics")
                #expect(back.status == 200)
                #expect(Self.text(Self.mergedPart(back.body)) == Self.text(expected))
                #expect(Self.errorCount(back.text, .directoryUnreadable) == 1)
            }
            #expect(server.log.all.filter { $0.contains("directory unreadable") }.count == 1)
            #expect(try server.get("/healthz").status == 200)
        }
    }

    /// A thread truncates a 128 KiB file and grows it back, over and over, while scrapes run in
    /// a loop: reads of pages past the new end raise SIGBUS, which the collector's guard must
    /// absorb. The process survives, every reply is 200, the good files stay exact, the
    /// hammered family is either absent or a subset of its lines with values of 0 or the real
    /// value, and once the hammering stops the output is exact again.
    @Test func fileTruncatedAndRegrownWhileScrapedInALoop() throws {
        try TestServer.with { server in
            let entries = (0..<2500).map {
                MetricFileWriter.Entry(metric: "hammer", sample: "hammer_total", labels: ["i": String($0)], help: "Hammered.",
                                       value: Double($0 % 7 + 1))
            }
            let staging = try FixtureDirectory.make()
            defer { staging.remove() }
            try MetricFileWriter.write(entries, to: staging.url, name: "counter_950.db")
            let content = try [UInt8](Data(contentsOf: staging.url.appendingPathComponent("counter_950.db")))
            #expect(content.count > 65536)
            let path = server.fixture.path + "/counter_950.db"
            try Data(content).write(to: URL(fileURLWithPath: path))
            let goodOnly = String(decoding: try Self.referenceBody(kept: [], keptName: nil), as: UTF8.self)
            let hammerValues = Dictionary(uniqueKeysWithValues: entries.map { ("hammer_total{i=\"\($0.labels["i"]!)\"}", $0.value) })

            let stop = Locked<Bool?>(nil)
            let cycles = Locked<Int?>(nil)
            let hammer = Thread {
                let fd = open(path, O_RDWR)
                var n = 0
                while stop.withLock { $0 } != true {
                    for size in [0, 4096, content.count / 2, 12] {
                        ftruncate(fd, off_t(size))
                        usleep(UInt32.random(in: 0...300))
                        _ = content.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
                        usleep(UInt32.random(in: 0...300))
                    }
                    n += 1
                }
                close(fd)
                cycles.withLock { $0 = n }
            }
            hammer.start()
            let deadline = Date().addingTimeInterval(3)
            var scrapes = 0, withHammer = 0, slowestHealthz = 0.0
            while Date() < deadline {
                let r = try server.get("/metrics")
                #expect(r.status == 200)
                scrapes += 1
                var other: [Substring] = []
                var sawHammer = false
                for line in String(decoding: Self.mergedPart(r.body), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix("# HELP hammer_total ") || line.hasPrefix("# TYPE hammer_total ") { continue }
                    if line.hasPrefix("hammer_total{") {
                        sawHammer = true
                        let space = line.lastIndex(of: " ")!
                        let value = Double(line[line.index(after: space)...])
                        let expected = hammerValues[String(line[..<space])]
                        #expect(expected != nil && (value == 0 || value == expected), "\(line)")
                        continue
                    }
                    other.append(line)
                }
                if sawHammer { withHammer += 1 }
                #expect(other.joined(separator: "\n") == goodOnly, "the good files' output changed")
                if scrapes % 10 == 0 {
                    let started = Date()
                    #expect(try server.get("/healthz").status == 200)
                    slowestHealthz = max(slowestHealthz, Date().timeIntervalSince(started))
                }
            }
            stop.withLock { $0 = true }
            #expect(waitUntil { cycles.withLock { $0 } != nil })
            try Data(content).write(to: URL(fileURLWithPath: path))
            let final = try server.get("/metrics")
            let warm = String(decoding: Self.mergedPart(final.body), as: UTF8.self)
            let cold = String(decoding: try DirectoryCollector(directory: server.fixture.path).collect().body(.prometheusText004), as: UTF8.self)
            let onlyWarm = Set(warm.split(separator: "\n")).subtracting(cold.split(separator: "\n"))
            let onlyCold = Set(cold.split(separator: "\n")).subtracting(warm.split(separator: "\n"))
            #expect(warm == cold, "after the hammer, warm only: \(Array(onlyWarm.prefix(3))) (\(onlyWarm.count)), cold only: \(Array(onlyCold.prefix(3))) (\(onlyCold.count)); \(server.log.all.filter { $0.contains("counter_950") }.suffix(2))")
            #expect(withHammer > 0 && scrapes > 20, "scrapes=\(scrapes) with the hammered file=\(withHammer)")
            let problems = FileProblem.Reason.allCases.compactMap { Self.errorCount(final.text, $0) }.reduce(0, +)
            #expect(problems > 0, "the hammer never hit a scrape (cycles=\(cycles.withLock { $0 } ?? 0))")
            #expect(slowestHealthz < 0.5, "slowest /healthz \(slowestHealthz) s")
        }
    }
}
