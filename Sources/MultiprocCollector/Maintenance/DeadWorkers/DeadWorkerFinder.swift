import MultiprocSupport

// MARK: - Finding dead workers, check after check

/// Finds the pids of a metric directory whose writers are gone, for servers that have no hook
/// telling anyone a worker died (uWSGI, celery prefork, `multiprocessing`). Call
/// ``check(markedDead:)`` every few seconds and mark dead what it returns; it marks nothing
/// itself.
///
/// Each check judges every pid that has files and is not marked dead yet (or is marked dead
/// and shows live gauge files again: a new process reused it) with ``DeadWorkerRule``, then:
///
/// - **Visibility** (rule 7, ``DeadWorkerRule/deathStands(appVisible:showsForeignPid:sawWriting:)``):
///   "no process holds P" means "dead" only if this exporter sees the app's processes, or has
///   seen P's. Unless at least one pid's holder is plausibly its files' writer (maps them, or
///   runs as their owner and started before them), and no holder shows that the names carry
///   another namespace's pids (``DeadWorkerCheck/pidsVisible`` true), a dead verdict becomes
///   `not_visible` — except for a pid whose every file this finder saw written by a process of
///   its namespace holding P (``WriterSightings``, kept across checks and, through
///   ``WriterSightingsRecord``, across processes of the same namespace and boot): a stopped
///   app's workers are dead, an app never seen is never guessed at.
/// - **Elsewhere**: before a pid is called dead, every visible process is looked at once: if
///   one running as the files' owner maps them writable (`in_use_elsewhere`) or has that pid inside a nested pid
///   namespace (`NSpid:`, `other_namespace`), it is not.
/// - **Confirmation**: a pid is returned as dead only when the previous check found it dead
///   for the same reason (or a zombie then, reaped now) and its files' bytes did not change in
///   between (`unconfirmed`, `being_written`). A check takes milliseconds; a worker's fork, exec and first write take
///   longer, and a writer that still writes shows it. A pid dead by what was seen before,
///   while no writer is visible, needs more: no file of any pid still judged changed in
///   between (a writer nobody can see shows itself only by writing).
///
/// When a file was created is its birth time where the file system records one (`statx`:
/// tmpfs, ext4), plus ``BootClock/margin(age:)``; else its last status change plus the margin;
/// and never later than when this finder first saw it, which needs no clock conversion.
public final class DeadWorkerFinder: Sendable {
    /// The metric directory.
    public let directory: String
    private let processes: ProcessTable
    private let clock: BootClock
    /// How recent a file change counts as "the directory is in use" (``DeadWorkerCheck/directoryInUse``).
    private let recentWindow: Double
    private let state = Locked(State())

    private struct FileKey: Hashable {
        var name: String
        var identity: DeviceInode
    }

    private struct Suspicion {
        var reason: PidVerdict.DeathReason
        /// Of the pid's files.
        var fingerprint: UInt64?
        /// Dead while no writer was visible, by ``WriterSightings``: then also of every judged
        /// pid's files.
        var byMemory: Bool
        var everyFile: UInt64?
    }

    private struct State {
        /// Boot-clock time each listed file was first seen.
        var firstSeen: [FileKey: Double] = [:]
        /// Pids found dead by the previous check.
        var suspects: [Int: Suspicion] = [:]
        /// Files seen written by a process of this namespace holding their pid.
        var sightings = WriterSightings()
        /// What the record in the directory says (nil before the first check read it).
        var recorded: WriterSightings?
        /// ``ProcessTable/namespaceIdentity()``, once known; nil inside: no record kept.
        var namespace: String??
    }

    /// A finder for `directory`, reading `processes` (tests pass a fake `/proc`) and timing
    /// with `clock`. A file changed within `recentWindow` seconds counts as in use.
    public init(directory: String, processes: ProcessTable = ProcessTable(), clock: BootClock = .system, recentWindow: Double = 60) {
        self.directory = directory
        self.processes = processes
        self.clock = clock
        self.recentWindow = recentWindow
    }

    /// Lists the directory and judges its pids (see the type's doc). `markedDead` are the pids
    /// already marked dead (``DirectoryCollector/markedDeadPids``). Blocks: file system and
    /// `/proc` reads, milliseconds.
    ///
    /// - Throws: the directory errors of ``DirectoryCollector/init(directory:options:)``.
    public func check(markedDead: Set<Int>) throws(CollectorError) -> DeadWorkerCheck {
        let started = clock.bootNow()
        let survey = try MetricFileSurvey.files(in: directory)
        let candidates = state.withLock { state in
            pidFiles(survey.byPid, now: started, firstSeen: &state.firstSeen)
        }.filter { !markedDead.contains($0.pid) || $0.hasLiveGauges }
        let stamps = Self.sightingFiles(survey.byPid, of: Set(candidates.map(\.pid)))

        var result = DeadWorkerCheck()
        result.notPids = survey.notPids.sorted()
        let ourselves = processes.selfAndAncestors()
        var showsApp = false, showsForeignPid = false
        var seenWriting: [Int] = []
        for files in candidates {
            let holder = DeadWorkerRule.Holder(of: files.pid, in: processes, ourselves: ourselves)
            let judgement = DeadWorkerRule.judge(files, holder: holder)
            if judgement.showsApp { seenWriting.append(files.pid) }
            showsApp = showsApp || judgement.showsApp
            showsForeignPid = showsForeignPid || judgement.showsForeignPid
            result.decisions.append(.init(pid: files.pid, verdict: judgement.verdict, hasLiveGauges: files.hasLiveGauges))
        }
        if !candidates.isEmpty { result.pidsVisible = showsApp && !showsForeignPid }
        if result.pidsVisible == false {
            result.directoryInUse = candidates.contains { $0.hasLiveGauges }
                || survey.byPid.contains { $0.files.contains { clock.bootTime(ofWallTime: $0.status.statusChange) > started - recentWindow } }
        }

        let sightings = remember(showsForeignPid ? [] : seenWriting, files: stamps)
        result.remembered = sightings.count

        // Rule 7, then the look at every other process, then confirmation.
        var byMemory: Set<Int> = []
        for index in result.decisions.indices {
            guard case .dead = result.decisions[index].verdict else { continue }
            let pid = result.decisions[index].pid
            let sawWriting = sightings.sawWriting(pid, all: stamps[pid] ?? [])
            guard DeadWorkerRule.deathStands(appVisible: result.pidsVisible == true, showsForeignPid: showsForeignPid,
                                             sawWriting: sawWriting) else {
                result.decisions[index].verdict = .skipped(.notVisible)
                continue
            }
            if result.pidsVisible != true { byMemory.insert(pid) }
        }
        let byPid = Dictionary(uniqueKeysWithValues: candidates.map { ($0.pid, $0) })
        let elsewhere = inUseElsewhere(result.dead.map(\.pid), files: byPid)
        let everyFile = byMemory.isEmpty ? nil : MetricFileSurvey.fingerprint(of: candidates.flatMap { $0.files.map(\.name) }, in: directory)
        let suspects = state.withLock { $0.suspects }
        var nextSuspects: [Int: Suspicion] = [:]
        for index in result.decisions.indices {
            guard case .dead(let reason) = result.decisions[index].verdict else { continue }
            let pid = result.decisions[index].pid
            if let skip = elsewhere[pid] {
                result.decisions[index].verdict = .skipped(skip)
                continue
            }
            let remembered = byMemory.contains(pid)
            let fingerprint = MetricFileSurvey.fingerprint(of: byPid[pid]!.files.map(\.name), in: directory)
            nextSuspects[pid] = Suspicion(reason: reason, fingerprint: fingerprint, byMemory: remembered, everyFile: everyFile)
            // A zombie reaped in between died once: exited confirms zombie.
            guard let previous = suspects[pid], previous.reason == reason || (previous.reason, reason) == (.zombie, .exited) else {
                result.decisions[index].verdict = .skipped(.unconfirmed)
                continue
            }
            // Dead by memory twice: nobody wrote anywhere in between. Visible in one of the
            // two checks (the app stopped, or came back, in between): the pid's files, as always.
            let (now, before) = remembered && previous.byMemory ? (everyFile, previous.everyFile) : (fingerprint, previous.fingerprint)
            if now == nil || now != before {
                result.decisions[index].verdict = .skipped(.beingWritten)
            }
        }
        state.withLock { $0.suspects = nextSuspects }
        result.sightingsProblem = saveSightings(sightings)
        result.duration = clock.bootNow() - started
        return result
    }

    // MARK: Memory

    /// Adds this check's sightings (`pids` whose holder is plausibly their writer) to those of
    /// the checks before (and, at the first check, of the record in the directory), forgets
    /// files and pids no longer judged, and returns the result.
    private func remember(_ pids: [Int], files: [Int: [WriterSightings.File]]) -> WriterSightings {
        let namespace = knownNamespace()
        return state.withLock { state in
            if state.recorded == nil {
                var recorded = WriterSightings()
                if let namespace, let folder = try? MetricDirectory(path: directory) {
                    recorded = WriterSightingsRecord.load(directory: folder.descriptor, namespace: namespace)
                }
                state.recorded = recorded
                state.sightings = recorded
            }
            for pid in pids { state.sightings.saw(pid, writing: files[pid] ?? []) }
            state.sightings.keep(only: files)
            return state.sightings
        }
    }

    /// Writes the record when `sightings` differ from it; why it could not, or nil.
    private func saveSightings(_ sightings: WriterSightings) -> String? {
        guard let namespace = knownNamespace(), let recorded = state.withLock({ $0.recorded }), recorded != sightings else { return nil }
        let problem: String?
        do {
            let folder = try MetricDirectory(path: directory)  // open while the record is written
            problem = WriterSightingsRecord.save(sightings, directory: folder.descriptor, namespace: namespace,
                                                 create: sightings.adds(to: recorded))
        } catch {
            problem = "\(error)"
        }
        if problem == nil { state.withLock { $0.recorded = sightings } }
        return problem
    }

    private func knownNamespace() -> String? {
        if let known = state.withLock({ $0.namespace }) { return known }
        let namespace = processes.namespaceIdentity()
        state.withLock { $0.namespace = .some(namespace) }
        return namespace
    }

    /// The files of `pids` as ``WriterSightings`` name them.
    private static func sightingFiles(_ listing: [(pid: Int, files: [MetricFileSurvey.File])], of pids: Set<Int>) -> [Int: [WriterSightings.File]] {
        var result: [Int: [WriterSightings.File]] = [:]
        for (pid, files) in listing where pids.contains(pid) {
            result[pid] = files.map { file in
                WriterSightings.File(name: file.name, identity: file.status.identity,
                                     created: Int64(((file.status.birth ?? file.status.statusChange) * 1e9).rounded()))
            }
        }
        return result
    }

    // MARK: Facts

    /// The listing as ``PidFiles``, each file's `bornBy` bounded as the type's doc says;
    /// forgets files no longer listed.
    private func pidFiles(_ listing: [(pid: Int, files: [MetricFileSurvey.File])], now: Double,
                          firstSeen: inout [FileKey: Double]) -> [PidFiles] {
        var seen: [FileKey: Double] = [:]
        let result = listing.map { pid, files in
            PidFiles(pid: pid, files: files.map { file in
                let key = FileKey(name: file.name, identity: file.status.identity)
                let first = firstSeen[key] ?? now
                seen[key] = first
                return PidFile(name: file.name, parsed: file.parsed, status: file.status, firstSeen: first, now: now, clock: clock)
            })
        }
        firstSeen = seen
        return result
    }

    /// For each of `pids`, whether a process other than its holder maps its files or holds the
    /// pid inside a nested pid namespace. One pass over every visible process.
    private func inUseElsewhere(_ pids: [Int], files: [Int: PidFiles]) -> [Int: PidVerdict.SkipReason] {
        guard !pids.isEmpty else { return [:] }
        let wanted = Set(pids)
        // Only a process running as a file's owner can map it writable (prometheus_client
        // creates them 0644 minus umask): other users' maps, often the costly part, are skipped.
        let owners = Set(pids.flatMap { files[$0]!.files.map(\.owner) })
        var found: [Int: PidVerdict.SkipReason] = [:]
        for process in processes.pids() where !wanted.contains(process) {
            guard case .present(let record) = processes.lookup(process) else { continue }
            if record.namespacePids.count > 1, wanted.contains(record.innermostPid), found[record.innermostPid] == nil {
                found[record.innermostPid] = .otherNamespace
            }
            guard record.effectiveUid.map(owners.contains) ?? true, let maps = processes.maps(of: process) else { continue }
            for pid in pids where found[pid] == nil && files[pid]!.mapped(in: maps) {
                found[pid] = .inUseElsewhere
            }
        }
        return found
    }
}
