import Testing
@testable import MultiprocCollector

/// ``DeadWorkerRule`` on plain values, both directions: every way a writer is gone, and
/// every way a pid that looks dead is in use or cannot be decided.
@Suite("DeadWorkerRule: the safety rule, case by case")
struct DeadWorkerRuleTests {
    static let file = DeviceInode(major: 0, minor: 27, inode: 100)
    /// Pid 50's files, owned by uid 1000, certainly there by boot second 1000.
    static let files = PidFiles(pid: 50, files: [
        PidFile(name: "counter_50.db", isLiveGauge: false, identity: file, owner: 1000, bornBy: 1000),
        PidFile(name: "gauge_livesum_50.db", isLiveGauge: true, identity: DeviceInode(major: 0, minor: 27, inode: 101), owner: 1000, bornBy: 1002),
    ])

    static func record(uid: UInt32? = 1000, state: Character = "S", threads: Int = 1, kernel: Bool = false, group: Int = 50) -> ProcessRecord {
        let stat = "50 (python3) \(state) 1 50 50 0 -1 \(kernel ? 0x0020_0000 : 0) 0 0 0 0 0 0 0 0 20 0 \(threads) 0 100 0"
        var record = ProcessRecord(pid: 50, stat: stat, status: nil)!
        record.effectiveUid = uid
        record.threadGroup = group
        return record
    }

    static let mapping = WritableMappings(parsing: "7f00-7f10 rw-s 00000000 00:1b 100 /dev/shm/m/counter_50.db\n")
    static let unrelatedMaps = WritableMappings(parsing: "7f00-7f10 r-xp 00000000 fe:01 9 /usr/bin/sleep\n")

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var holder: DeadWorkerRule.Holder
        var verdict: PidVerdict
        var showsApp = false
        var showsForeignPid = false
        var testDescription: String { name }
    }

    static func holder(_ record: ProcessRecord?, maps: WritableMappings?, start: Double?, ourselves: Bool = false) -> DeadWorkerRule.Holder {
        DeadWorkerRule.Holder(lookup: record.map { .present($0) } ?? .absent, maps: maps, startSeconds: start, isOurselves: ourselves)
    }

    static let cases: [Case] = [
        // dead
        Case(name: "no process holds the pid", holder: holder(nil, maps: nil, start: nil), verdict: .dead(.exited)),
        Case(name: "zombie, not reaped", holder: holder(record(state: "Z"), maps: WritableMappings(parsing: ""), start: 900), verdict: .dead(.zombie)),
        Case(name: "reused by a process started after the files, maps readable, files not mapped",
             holder: holder(record(), maps: unrelatedMaps, start: 1000.5), verdict: .dead(.pidReused)),
        Case(name: "reused by another user's process, maps unreadable", holder: holder(record(uid: 0), maps: nil, start: 5000), verdict: .dead(.pidReused)),
        Case(name: "reused by a kernel thread started after the files", holder: holder(record(kernel: true), maps: WritableMappings(parsing: ""), start: 2000),
             verdict: .dead(.pidReused)),
        // alive or skipped
        Case(name: "the writer: started before its files, maps them", holder: holder(record(), maps: mapping, start: 900), verdict: .alive, showsApp: true),
        Case(name: "a new worker reused the pid and maps the files", holder: holder(record(), maps: mapping, start: 1500),
             verdict: .skipped(.reusedPidInUse), showsApp: true),
        Case(name: "zombie leader with live threads", holder: holder(record(state: "Z", threads: 3), maps: WritableMappings(parsing: ""), start: 900), verdict: .alive),
        Case(name: "started after, same user, maps unreadable: may be a worker using them",
             holder: holder(record(), maps: nil, start: 5000), verdict: .skipped(.unverifiable)),
        Case(name: "started after, user unknown, maps unreadable", holder: holder(record(uid: nil), maps: nil, start: 5000), verdict: .skipped(.unverifiable)),
        Case(name: "started exactly at the bound: not clearly after", holder: holder(record(), maps: unrelatedMaps, start: 1000),
             verdict: .alive),
        Case(name: "the writer, maps unreadable (another user)", holder: holder(record(), maps: nil, start: 10), verdict: .alive, showsApp: true),
        Case(name: "the writer of another uid, maps unreadable: alive, no evidence", holder: holder(record(uid: 7), maps: nil, start: 10), verdict: .alive),
        Case(name: "started before, maps readable, not mapped: no writer of ours, alive", holder: holder(record(), maps: unrelatedMaps, start: 10), verdict: .alive),
        Case(name: "hidden by hidepid", holder: DeadWorkerRule.Holder(lookup: .hidden, maps: nil, startSeconds: nil, isOurselves: false),
             verdict: .skipped(.notInspectable)),
        Case(name: "this exporter held the pid before the files: another namespace's pid",
             holder: holder(record(), maps: unrelatedMaps, start: 10, ourselves: true), verdict: .skipped(.otherNamespace), showsForeignPid: true),
        Case(name: "a kernel thread held the pid before the files", holder: holder(record(kernel: true), maps: WritableMappings(parsing: ""), start: 1),
             verdict: .skipped(.otherNamespace), showsForeignPid: true),
        Case(name: "a thread of another process held the pid before the files", holder: holder(record(group: 49), maps: unrelatedMaps, start: 10),
             verdict: .skipped(.otherNamespace), showsForeignPid: true),
        Case(name: "an ancestor that maps the files (uWSGI attach-daemon) is their writer",
             holder: holder(record(), maps: mapping, start: 10, ourselves: true), verdict: .alive, showsApp: true),
    ]

    @Test(arguments: cases)
    func verdict(_ c: Case) {
        let judgement = DeadWorkerRule.judge(Self.files, holder: c.holder)
        #expect(judgement.verdict == c.verdict)
        #expect(judgement.showsApp == c.showsApp)
        #expect(judgement.showsForeignPid == c.showsForeignPid)
    }

    /// Rule 7, every combination: a death stands where the app is visible, or where the pid's
    /// files were all seen written from here and no holder shows another namespace.
    @Test(arguments: [false, true], [false, true])
    func deathStandsOnlyWhereTheWriterWasSeen(showsForeignPid: Bool, sawWriting: Bool) {
        // Visible means: some holder is the app's, and none shows foreign pids.
        #expect(DeadWorkerRule.deathStands(appVisible: !showsForeignPid, showsForeignPid: showsForeignPid, sawWriting: sawWriting)
            == !showsForeignPid)
        #expect(DeadWorkerRule.deathStands(appVisible: false, showsForeignPid: showsForeignPid, sawWriting: sawWriting)
            == (sawWriting && !showsForeignPid))
    }

    @Test func bornByIsTheEarliestFile() {
        #expect(Self.files.bornBy == 1000)
        #expect(Self.files.hasLiveGauges)
        #expect(PidFiles(pid: 1, files: []).bornBy == .infinity)
    }

    @Test func marginGrowsWithAge() {
        #expect(BootClock.margin(age: 0) == 1)
        #expect(BootClock.margin(age: 86_400) > 87 && BootClock.margin(age: 86_400) < 88)
        #expect(BootClock.margin(age: -5) == 1)
    }
}
