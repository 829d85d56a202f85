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
/// - **Visibility**: "no process holds P" means "dead" only if this exporter sees the app's
///   processes at all. Unless at least one pid's holder is plausibly its files' writer (maps
///   them, or runs as their owner and started before them), and no holder shows that the
///   names carry another namespace's pids, every dead verdict becomes `not_visible`
///   (``DeadWorkerCheck/pidsVisible`` is false).
/// - **Elsewhere**: before a pid is called dead, every visible process is looked at once: if
///   one running as the files' owner maps them writable (`in_use_elsewhere`) or has that pid inside a nested pid
///   namespace (`NSpid:`, `other_namespace`), it is not.
/// - **Confirmation**: a pid is returned as dead only when the previous check found it dead
///   for the same reason and its files' bytes did not change in between (`unconfirmed`,
///   `being_written`). A check takes milliseconds; a worker's fork, exec and first write take
///   longer, and a writer that still writes shows it.
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
        var fingerprint: UInt64?
    }

    private struct State {
        /// Boot-clock time each listed file was first seen.
        var firstSeen: [FileKey: Double] = [:]
        /// Pids found dead by the previous check.
        var suspects: [Int: Suspicion] = [:]
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

        var result = DeadWorkerCheck()
        result.notPids = survey.notPids.sorted()
        let ourselves = processes.selfAndAncestors()
        var showsApp = false, showsForeignPid = false
        for files in candidates {
            let lookup = processes.lookup(files.pid)
            var holder = DeadWorkerRule.Holder(lookup: lookup, maps: nil, startSeconds: nil, isOurselves: ourselves.contains(files.pid))
            if case .present(let record) = lookup {
                holder.maps = processes.maps(of: files.pid)
                holder.startSeconds = processes.startSeconds(record)
            }
            let judgement = DeadWorkerRule.judge(files, holder: holder)
            showsApp = showsApp || judgement.showsApp
            showsForeignPid = showsForeignPid || judgement.showsForeignPid
            result.decisions.append(.init(pid: files.pid, verdict: judgement.verdict))
        }
        if !candidates.isEmpty { result.pidsVisible = showsApp && !showsForeignPid }
        if result.pidsVisible == false {
            result.directoryInUse = candidates.contains { $0.hasLiveGauges }
                || survey.byPid.contains { $0.files.contains { clock.bootTime(ofWallTime: $0.status.statusChange) > started - recentWindow } }
        }

        let byPid = Dictionary(uniqueKeysWithValues: candidates.map { ($0.pid, $0) })
        let elsewhere = result.pidsVisible == true ? inUseElsewhere(result.dead.map(\.pid), files: byPid) : [:]
        let suspects = state.withLock { $0.suspects }
        var nextSuspects: [Int: Suspicion] = [:]
        for index in result.decisions.indices {
            guard case .dead(let reason) = result.decisions[index].verdict else { continue }
            let pid = result.decisions[index].pid
            if result.pidsVisible != true {
                result.decisions[index].verdict = .skipped(.notVisible)
                continue
            }
            if let skip = elsewhere[pid] {
                result.decisions[index].verdict = .skipped(skip)
                continue
            }
            let fingerprint = MetricFileSurvey.fingerprint(of: byPid[pid]!.files.map(\.name), in: directory)
            nextSuspects[pid] = Suspicion(reason: reason, fingerprint: fingerprint)
            guard let previous = suspects[pid], previous.reason == reason else {
                result.decisions[index].verdict = .skipped(.unconfirmed)
                continue
            }
            if fingerprint == nil || previous.fingerprint != fingerprint {
                result.decisions[index].verdict = .skipped(.beingWritten)
            }
        }
        state.withLock { $0.suspects = nextSuspects }
        result.duration = clock.bootNow() - started
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
                let created = clock.bootTime(ofWallTime: file.status.birth ?? file.status.statusChange)
                return PidFile(name: file.name, isLiveGauge: file.parsed.gaugeMode?.isLive == true, identity: file.status.identity,
                               owner: file.status.owner, bornBy: min(first, created + BootClock.margin(age: now - created)))
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
