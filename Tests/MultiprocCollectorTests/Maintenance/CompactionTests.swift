import Foundation
import Testing
import TestSupport
@testable import MultiprocCollector
import MultiprocSupport

/// Compaction: dead pids' files folded into archives, checked against what was served before,
/// against prometheus_client's own collector, and across a pass stopped at every step.
@Suite struct CompactionTests {
    let dir = TemporaryDirectory()

    /// A worker's files: counters, a histogram, a summary and gauges in every mode, with
    /// integer values (`scale` varies them) unless `fractional`.
    static func writeWorker(_ root: String, pid: Int, scale: Double, fractional: Bool = false) {
        func v(_ x: Double) -> Double { fractional ? x * scale * 0.1 + 0.013 : (x * scale).rounded() }
        let counter = DBWriter(path: "\(root)/counter_\(pid).db")
        for route in ["/a", "/b", "/ü \"q\""] {
            counter.set(DBWriter.key(metric: "req", sample: "req_total", labels: ["route": route], help: "Requests."), v(3))
        }
        let histogram = DBWriter(path: "\(root)/histogram_\(pid).db")
        for le in ["0.1", "1.0", "+Inf"] {
            histogram.set(DBWriter.key(metric: "lat", sample: "lat_bucket", labels: ["le": le], help: "Latency."), (2 * scale).rounded())
        }
        histogram.set(DBWriter.key(metric: "lat", sample: "lat_sum", help: "Latency."), v(1.7))
        let summary = DBWriter(path: "\(root)/summary_\(pid).db")
        summary.set(DBWriter.key(metric: "size", sample: "size_count", help: "Sizes."), (4 * scale).rounded())
        summary.set(DBWriter.key(metric: "size", sample: "size_sum", help: "Sizes."), v(40))
        for mode in ["min", "max", "sum", "mostrecent", "all", "livesum"] {
            let gauge = DBWriter(path: "\(root)/gauge_\(mode)_\(pid).db")
            gauge.set(DBWriter.key(metric: "g_\(mode)", sample: "g_\(mode)", help: "Gauge."), scale * 2, timestamp: scale)
        }
    }

    /// Options that record dead pids and stop a pass before the `occurrence`-th time it
    /// reaches `stop` (a step done once per archive is reached several times a pass).
    private func options(stoppingBefore stop: CompactionStep? = nil, occurrence: Int = 1) -> DirectoryCollector.Options {
        var options = DirectoryCollector.Options()
        options.recordsDeadPids = true
        if let stop {
            let reached = Locked(0)
            options.compactionStopBefore = { step in
                step == stop && reached.withLock { count in
                    count += 1
                    return count == occurrence
                }
            }
        }
        return options
    }

    private func names() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    @Test func deadPidsAreFoldedIntoArchivesThatPythonReads() throws {
        for pid in 101...106 { Self.writeWorker(dir.path, pid: pid, scale: Double(pid - 100)) }
        let collector = try DirectoryCollector(directory: dir.path, options: options())
        for pid in 101...104 { try collector.markDead(pid: pid) }
        let before = collector.collect().text

        let report = collector.compact(delay: 0)
        #expect(report.errors.isEmpty, "\(report.errors)")
        #expect(report.pidsFolded == ["101", "102", "103", "104"])
        #expect(report.filesFolded == 4 * 7)  // counter, histogram, summary, 4 folded gauge modes
        let after = collector.collect().text
        #expect(after == before)
        #expect(try DirectoryCollector(directory: dir.path).collect().text == before, "a cold read agrees")
        let left = try names()
        for pid in 105...106 {
            #expect(left.filter { $0.hasSuffix("_\(pid).db") }.count == 9, "live pids keep every file")
        }
        for pid in 101...104 {
            #expect(left.filter { $0.hasSuffix("_\(pid).db") } == ["gauge_all_\(pid).db"], "only `all` gauges stay")
        }
        #expect(left.contains("counter_0.db") && left.contains("gauge_mostrecent_0.db"))
        #expect(!left.contains { $0.hasSuffix(".tmp") })
        if PythonReference.requireAvailable() {
            let python = try PythonReference.body(directory: dir.path)
            #expect(Set(python.split(separator: "\n")) == Set(after.split(separator: "\n")), "prometheus_client reads the archives")
        }
        // A second pass finds nothing to do; the journal no longer lists the folded pids.
        let again = collector.compact(delay: 0)
        #expect(again.filesFolded == 0 && again.errors.isEmpty)
    }

    @Test func pidsWaitForTheDelayAndRevivedPidsAreLeftAlone() throws {
        for pid in 201...203 { Self.writeWorker(dir.path, pid: pid, scale: 1) }
        let collector = try DirectoryCollector(directory: dir.path, options: options())
        for pid in 201...203 { try collector.markDead(pid: pid) }
        #expect(collector.compact(delay: 3600).pidsWaiting == 3)
        // Pid 202 is reused: a new worker writes its counter file again.
        DBWriter(path: dir.file("counter_202.db")).set(DBWriter.key(metric: "req", sample: "req_total", labels: ["route": "/a"], help: "Requests."), 9)
        let before = collector.collect().text
        let report = collector.compact(delay: 0)
        #expect(report.pidsRevived == ["202"])
        #expect(report.pidsFolded == ["201", "203"])
        #expect(try names().contains("counter_202.db"))
        #expect(collector.collect().text == before)
        // Marked dead again later, it is folded then.
        try collector.markDead(pid: 202)
        #expect(collector.compact(delay: 0).pidsFolded == ["202"])
        let after = collector.collect().text
        #expect(after == before, "before only: \(Set(before.split(separator: "\n")).subtracting(after.split(separator: "\n"))); after only: \(Set(after.split(separator: "\n")).subtracting(before.split(separator: "\n")))")
    }

    /// A dead pid with a file that cannot be read whole is never folded: reported once,
    /// forgotten as dead, its files left exactly as they are (the others fold).
    @Test func aPidWithACorruptFileIsReportedOnceAndLeftAlone() throws {
        for pid in 501...502 { Self.writeWorker(dir.path, pid: pid, scale: 1) }
        let corrupt = DBWriter(path: dir.file("counter_501.db"))
        corrupt.set(DBWriter.key(metric: "req", sample: "req_total", labels: ["route": "/a"], help: "Requests."), 1)
        corrupt.appendRaw([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0])  // a key length past `used`
        let collector = try DirectoryCollector(directory: dir.path, options: options())
        for pid in 501...502 { try collector.markDead(pid: pid) }
        let before = try Data(contentsOf: URL(fileURLWithPath: dir.file("counter_501.db")))
        let first = collector.compact(delay: 0)
        #expect(first.pidsFolded == ["502"])
        #expect(first.errors.count == 1 && first.errors[0].contains("counter_501.db"), "\(first.errors)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("counter_501.db"))) == before)
        let second = collector.compact(delay: 0)
        #expect(second.errors.isEmpty && second.filesFolded == 0, "reported once: \(second)")
    }

    /// Every step of a pass, interrupted as by `kill -9`: a fresh collector (a restart)
    /// settles it, and serves exactly what was served before; nothing is left behind.
    @Test(arguments: CompactionStep.allCases)
    func aPassStoppedAnywhereIsSettledOnRestart(step: CompactionStep) throws {
        for seed in 0..<12 {
            let dir = TemporaryDirectory()
            let pids = 300..<(303 + seed % 4)
            for pid in pids { Self.writeWorker(dir.path, pid: pid, scale: Double(pid % 7 + seed)) }
            // Steps done once per archive are interrupted before the first, second or third.
            let perArchive: Set<CompactionStep> = [.nameTemporary, .journalCommit, .replaceArchive, .deleteFiles]
            let occurrence = perArchive.contains(step) ? 1 + seed % 3 : 1
            let crashing = try DirectoryCollector(directory: dir.path, options: options(stoppingBefore: step, occurrence: occurrence))
            // Some archives already exist from an earlier pass.
            if seed % 2 == 1 {
                try crashing.markDead(pid: pids.lowerBound)
                let earlier = try DirectoryCollector(directory: dir.path, options: options())
                #expect(earlier.compact(delay: 0).filesFolded > 0)
            }
            for pid in pids.dropFirst().dropLast() { try crashing.markDead(pid: pid) }
            let expected = try DirectoryCollector(directory: dir.path).collect().text
            let stopped = crashing.compact(delay: 0)
            #expect(stopped.errors.contains { $0.contains("stopped before \(step.rawValue)") }, "\(stopped)")
            if step == .journalCommit || step == .replaceArchive {
                #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).contains { $0.hasSuffix(".tmp") },
                        "stopped before an archive's rename: its new content waits as a named temporary")
            }

            let restarted = try DirectoryCollector(directory: dir.path, options: options())
            let recovery = restarted.recoverCompaction()
            #expect(recovery.errors.isEmpty, "\(recovery.errors)")
            #expect(restarted.collect().text == expected, "seed \(seed): restart after a stop before \(step)")
            let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            #expect(!left.contains { $0.hasSuffix(".tmp") }, "seed \(seed): \(left.sorted().filter { MetricFileName($0) == nil })")
            // And the next pass completes the work.
            let next = restarted.compact(delay: 0)
            #expect(next.errors.isEmpty, "\(next.errors)")
            #expect(restarted.collect().text == expected)
            let folded = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            for pid in pids.dropFirst().dropLast() {
                #expect(folded.filter { $0.hasSuffix("_\(pid).db") } == ["gauge_all_\(pid).db"])
            }
        }
    }

    /// Float counters summed in another order can come out a few ulps lower: the archive is
    /// raised so that no counter-like series served goes down.
    @Test func noCounterGoesDownAcrossAPass() throws {
        var raised = 0
        for seed in 0..<20 {
            let dir = TemporaryDirectory()
            for pid in 400..<412 { Self.writeWorker(dir.path, pid: pid, scale: Double((pid * 7919 + seed * 104_729) % 1000) / 7, fractional: true) }
            let collector = try DirectoryCollector(directory: dir.path, options: options())
            for pid in 400..<410 { try collector.markDead(pid: pid) }
            let before = collector.collect()
            let report = collector.compact(delay: 0)
            raised += report.seriesRaised
            let after = collector.collect()
            #expect(MonotonicGuard.drops(from: before, to: after).isEmpty, "seed \(seed)")
            if seed < 3, PythonReference.requireAvailable() {
                let python = try PythonReference.body(directory: dir.path)
                #expect(Set(python.split(separator: "\n")) == Set(after.text.split(separator: "\n")))
            }
        }
        #expect(raised > 0, "the guard was needed at least once in 20 directories of float sums")
    }

    /// A journal line cut short (a full disk, a kill inside a write) is dropped before the
    /// next append: records written after it are not hidden behind it.
    @Test func recordsAppendedAfterATornLineAreRead() throws {
        for pid in 601...602 { Self.writeWorker(dir.path, pid: pid, scale: 1) }
        let collector = try DirectoryCollector(directory: dir.path, options: options())
        try collector.markDead(pid: 601)
        let journal = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file(CompactionJournal.fileName)))
        try journal.seekToEnd()
        try journal.write(contentsOf: Data("dead 60".utf8))
        try journal.close()
        try collector.markDead(pid: 602)
        let text = try String(contentsOfFile: dir.file(CompactionJournal.fileName), encoding: .utf8)
        #expect(text.split(separator: "\n").allSatisfy { JournalRecord(line: $0) != nil }, "no torn line left: \(text)")
        let restarted = try DirectoryCollector(directory: dir.path, options: options())
        #expect(restarted.compact(delay: 0).pidsFolded == ["601", "602"])
    }

    /// A dead pid's file written after the plan (its old writer still had it mapped): the
    /// check before the switch sees it, nothing is switched, the pid is alive again and every
    /// count the file holds now is served; marked dead again later, it is folded then.
    @Test func aFileWrittenAfterThePlanIsNotFolded() throws {
        Self.writeWorker(dir.path, pid: 702, scale: 1)
        let route = DBWriter.key(metric: "req", sample: "req_total", labels: ["route": "/a"], help: "Requests.")
        let old = DBWriter(path: dir.file("counter_701.db"))
        old.set(route, 3)
        let valueOffset = old.positions[route]!
        let collector = try DirectoryCollector(directory: dir.path, options: {
            var options = options()
            let path = dir.path
            options.compactionStopBefore = { step in
                guard step == .check else { return false }
                // The old writer still has its file mapped and counts on.
                let fd = open("\(path)/counter_701.db", O_WRONLY)
                var value = 100.0
                _ = pwrite(fd, &value, 8, off_t(valueOffset))
                close(fd)
                return false
            }
            return options
        }())
        for pid in 701...702 { try collector.markDead(pid: pid) }
        _ = collector.collect()

        let report = collector.compact(delay: 0)
        #expect(report.pidsRevived == ["701"] && report.pidsFolded.isEmpty, "\(report)")
        let left = try names()
        #expect(left.contains("counter_701.db") && left.contains("counter_702.db") && !left.contains { $0.hasSuffix(".tmp") }, "\(left)")

        // What is served is what the files hold now: 100 on /a from 701, 702's own.
        let reference = TemporaryDirectory()
        Self.writeWorker(reference.path, pid: 702, scale: 1)
        try FileManager.default.removeItem(atPath: reference.file("gauge_livesum_702.db"))  // removed by mark-dead
        DBWriter(path: reference.file("counter_1.db")).set(route, 100)
        let expected = try DirectoryCollector(directory: reference.path).collect().text
        #expect(collector.collect().text == expected)
        #expect(try DirectoryCollector(directory: dir.path).collect().text == expected)
        // 702 waits for the next pass; 701, marked dead again, folds with it.
        try collector.markDead(pid: 701)
        let next = collector.compact(delay: 0)
        #expect(next.pidsFolded == ["701", "702"], "\(next)")
        #expect(collector.collect().text == expected)
        #expect(try DirectoryCollector(directory: dir.path).collect().text == expected)
    }

    /// Keys are folded by their bytes: raw UTF-8 `café` (precomposed) and `cafe` + U+0301
    /// (decomposed) are two series for prometheus_client, which Swift's `String ==` would
    /// merge (canonical equivalence). prometheus_client's writer escapes non-ASCII, so the keys
    /// here are written raw, as another writer could.
    @Test func keysThatDifferOnlyInNormalizationStayTwoSeries() throws {
        func key(_ route: String) -> String { "[\"req\", \"req_total\", {\"route\": \"\(route)\"}, \"Requests.\"]" }
        let precomposed = key("caf\u{E9}"), decomposed = key("cafe\u{301}")
        #expect(Array(precomposed.utf8) != Array(decomposed.utf8) && precomposed == decomposed, "two byte strings Swift calls equal")
        DBWriter(path: dir.file("counter_1701.db")).set(precomposed, 3)
        DBWriter(path: dir.file("counter_1702.db")).set(precomposed, 7)
        DBWriter(path: dir.file("counter_1703.db")).set(decomposed, 5)
        let collector = try DirectoryCollector(directory: dir.path, options: options())
        for pid in 1701...1703 { try collector.markDead(pid: pid) }
        let before = collector.collect()
        let values = before.families.first { $0.name == "req" }?.samples.map(\.value).sorted()
        #expect(values == [5, 10], "two series before the pass: \(before.text)")
        #expect(collector.compact(delay: 0).pidsFolded == ["1701", "1702", "1703"])
        #expect(collector.collect().text == before.text)
        #expect(try DirectoryCollector(directory: dir.path).collect().text == before.text)
        if PythonReference.requireAvailable() {
            let python = try PythonReference.body(directory: dir.path)
            #expect(Set(python.split(separator: "\n")) == Set(before.text.split(separator: "\n")), "prometheus_client reads two series")
        }
    }

    /// The switch holds the directory's `flock` exclusively: a collector of another process
    /// (here another collector, with its own descriptor) waits for it rather than read a
    /// directory half switched.
    @Test func scrapesOfAnotherCollectorWaitForTheSwitch() throws {
        for pid in 801...804 { Self.writeWorker(dir.path, pid: pid, scale: Double(pid - 800)) }
        let other = try DirectoryCollector(directory: dir.path)
        let seen = Locked<String?>(nil)
        let times = Locked((hookEnded: 0.0, collectEnded: 0.0))
        let started = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        let collector = try DirectoryCollector(directory: dir.path, options: {
            var options = options()
            let reached = Locked(0)
            options.compactionStopBefore = { step in
                guard step == .deleteFiles, reached.withLock({ $0 += 1; return $0 == 2 }) else { return false }
                // The second archive renamed, its files not deleted yet: a reader now would
                // count them twice.
                DispatchQueue.global().async {
                    started.signal()
                    let text = other.collect().text
                    times.withLock { $0.collectEnded = monotonicNow() }
                    seen.withLock { $0 = text }
                    done.signal()
                }
                started.wait()
                usleep(300_000)  // a scrape that did not wait would end long before this
                times.withLock { $0.hookEnded = monotonicNow() }
                return false
            }
            return options
        }())
        for pid in 801...803 { try collector.markDead(pid: pid) }
        let before = other.collect().text
        let report = collector.compact(delay: 0)
        #expect(report.errors.isEmpty && report.pidsFolded.count == 3, "\(report)")
        done.wait()
        let (hookEnded, collectEnded) = times.withLock { $0 }
        #expect(collectEnded > hookEnded, "the other collector read during the switch")
        #expect(seen.withLock { $0 } == before)
    }

    /// Two processes compacting one directory take turns: a pass waits while another holds
    /// the directory's ``CompactorLock``.
    @Test func compactorsOfOneDirectoryTakeTurns() throws {
        for pid in 901...902 { Self.writeWorker(dir.path, pid: pid, scale: 1) }
        let collector = try DirectoryCollector(directory: dir.path, options: options())
        try collector.markDead(pid: 901)
        let fd = open(dir.path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        let held = try CompactorLock(directory: fd)
        let folded = Locked<[String]?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let report = collector.compact(delay: 0)
            folded.withLock { $0 = report.pidsFolded }
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 0.3) == .timedOut, "a pass ran while another process compacts")
        held.release()
        done.wait()
        #expect(folded.withLock { $0 } == ["901"])
    }

    @Test func journalLinesRoundTripAndTornLinesAreIgnored() throws {
        let snapshot = FileFingerprint(name: "counter_7.db", device: 64769, inode: 1234, size: 65536, used: 120, hash: 0xdead_beef)
        let swap = JournalRecord.ArchiveSwap(name: "counter_0.db", newInode: 77, hash: 42, files: 1)
        let records: [JournalRecord] = [
            .dead(pid: "7", markedAt: 1_700_000_000.25), .file(pid: "7", snapshot), .fold(pass: 3, archive: "counter_0.db", snapshot),
            .commit(pass: 3, swap), .forget(pid: "7", markedAt: 1_700_000_000.25), .done(pass: 3),
            .fold(pass: 4, archive: "counter_0.db", snapshot), .commit(pass: 4, { var s = swap; s.newInode = 78; return s }()),
            .dead(pid: "8", markedAt: 2), .forget(pid: "8", markedAt: 1),  // a forget of an earlier death leaves a later one
        ]
        for record in records {
            #expect(JournalRecord(line: Substring(record.line.dropLast())) == record)
        }
        var torn = records[1].line.dropLast()
        torn.removeLast(3)
        #expect(JournalRecord(line: Substring(torn)) == nil)
        let ledger = CompactionLedger(records)
        #expect(ledger.unsettled.keys.sorted() == [4] && ledger.lastPass == 4 && ledger.dead.keys.sorted() == ["8"])
        #expect(CompactionLedger(ledger.records) == ledger)
        // A commit whose fold records do not all precede it (a rewrite gone wrong) counts for nothing.
        #expect(CompactionLedger([records[3]]).unsettled.isEmpty)
    }

    /// A pass folds at most `maxPidsPerPass` pids, oldest deaths first; the others are
    /// deferred to the next pass, and every count stays.
    @Test func aPassFoldsAtMostItsMaximumOldestDeathsFirst() throws {
        for pid in 1901...1905 { Self.writeWorker(dir.path, pid: pid, scale: Double(pid - 1900)) }
        var bounded = options()
        bounded.maxPidsPerPass = 2
        let collector = try DirectoryCollector(directory: dir.path, options: bounded)
        for pid in [1904, 1902, 1905, 1901] {
            try collector.markDead(pid: pid)
            usleep(2_000)  // distinct death times
        }
        let before = collector.collect().text
        let first = collector.compact(delay: 0)
        #expect(first.pidsFolded == ["1902", "1904"] && first.pidsDeferred == 2, "\(first)")
        let second = collector.compact(delay: 0)
        #expect(second.pidsFolded == ["1901", "1905"] && second.pidsDeferred == 0, "\(second)")
        #expect(collector.collect().text == before)
        #expect(try DirectoryCollector(directory: dir.path).collect().text == before)
    }

    /// A journal rewritten while a commit is pending keeps it (and its files), so that a later
    /// settling still knows what to delete.
    @Test func aJournalRewriteKeepsAPendingCommit() throws {
        for pid in 2001...2002 { Self.writeWorker(dir.path, pid: pid, scale: 1) }
        let collector = try DirectoryCollector(directory: dir.path, options: options(stoppingBefore: .deleteFiles))
        try collector.markDead(pid: 2001)
        let expected = try DirectoryCollector(directory: dir.path).collect().text
        #expect(collector.compact(delay: 0).errors.contains { $0.contains("stopped before deleteFiles") })
        let fd = open(dir.path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        let journal = CompactionJournal(directory: fd)
        let pending = CompactionLedger(try journal.load().records)
        #expect(pending.unsettled.count == 1)
        // Enough deaths and forgets of other pids to make the journal long.
        for i in 0..<100 { try journal.append([.dead(pid: "\(3000 + i)", markedAt: 1), .forget(pid: "\(3000 + i)", markedAt: 1)]) }
        try journal.rewriteIfLong()
        let (records, lines) = try journal.load()
        #expect(lines < 100, "rewritten: \(lines) lines")
        #expect(CompactionLedger(records).unsettled == pending.unsettled)
        #expect(try DirectoryCollector(directory: dir.path).collect().text == expected, "the pending files stay left out")
        #expect(try DirectoryCollector(directory: dir.path, options: options()).recoverCompaction().recovered == .rolledForward)
        #expect(try DirectoryCollector(directory: dir.path).collect().text == expected)
    }

    /// A FIFO (or any special file) by the journal's name: an error, never a pass held up.
    @Test func aFIFONamedLikeTheJournalIsAnErrorNotAHang() throws {
        #expect(mkfifo(dir.file(CompactionJournal.fileName), 0o644) == 0)
        let fd = open(dir.path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        let journal = CompactionJournal(directory: fd)
        #expect(throws: JournalError.self) { _ = try journal.load() }
        #expect(throws: JournalError.self) { try journal.append([.dead(pid: "7", markedAt: 1)]) }
    }

    /// A compactor killed between an archive's rename and the deletes (here: stopped there)
    /// leaves the files counted in the archive: another collector, which does not settle
    /// anything, leaves them out until a pass settles the commit, so nobody serves them twice.
    @Test func anotherCollectorLeavesOutWhatAKilledPassFolded() throws {
        for pid in 2101...2103 { Self.writeWorker(dir.path, pid: pid, scale: Double(pid - 2100)) }
        let reader = try DirectoryCollector(directory: dir.path)
        var expected = ""
        for step in [CompactionStep.deleteFiles, .journalDone] {
            let killed = try DirectoryCollector(directory: dir.path, options: options(stoppingBefore: step))
            try killed.markDead(pid: step == .deleteFiles ? 2101 : 2102)
            expected = try DirectoryCollector(directory: dir.path).collect().text
            #expect(killed.compact(delay: 0).errors.contains { $0.contains("stopped before") })
            #expect(reader.collect().text == expected, "a running reader, stopped before \(step)")
            #expect(try DirectoryCollector(directory: dir.path).collect().text == expected, "a fresh reader, stopped before \(step)")
        }
        #expect(try DirectoryCollector(directory: dir.path, options: options()).compact(delay: 0).errors.isEmpty)
        #expect(reader.collect().text == expected)
    }
}
