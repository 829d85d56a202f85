import Glibc

// MARK: - Finding the workers and their parents

extension WorkerCollector {
    /// Lists the directory when it changed and looks at the pids that need it: new ones, ones
    /// whose files changed, and (a few per call) unclaimed ones due for another look.
    func discover(_ state: inout State, report: inout WorkerReport) {
        let now = clock.bootNow()
        let directory: MetricDirectory
        do {
            directory = try MetricDirectory(path: self.directory)
        } catch {
            state.listing.clear()
            state.unclaimed.removeAll()
            return
        }
        var toLook: [Int] = []
        let firstListing = !state.listedOnce
        if state.listing.refresh(directory) {
            noteFirstSeen(&state, now: now)
            state.unclaimed.keep(listed: state.listing.byPid)
            for (pid, files) in state.listing.byPid where state.memberByPid[pid] == nil && state.unclaimed[pid]?.files != files {
                toLook.append(pid)
            }
        }
        let rechecks = now - state.lastRecheck >= Self.recheckSpacing ? state.unclaimed.due(at: now, limit: Self.rechecksPerLook) : []
        if !rechecks.isEmpty { state.lastRecheck = now }
        for (pid, unclaimed) in rechecks where !toLook.contains(pid) {
            if stillUnclaimed(pid, unclaimed, state: &state, now: now) {
                report.pidsLookedAt += 1
            } else {
                toLook.append(pid)
            }
        }
        guard !toLook.isEmpty else { return }
        if state.ourselves == nil { state.ourselves = processes.selfAndAncestors() }
        let ourselves = state.ourselves!
        for pid in toLook.sorted() where state.memberByPid[pid] == nil {
            guard let files = state.listing.byPid[pid] else { continue }
            look(at: pid, files: files, in: directory.descriptor, state: &state, report: &report, now: now,
                 ourselves: ourselves, countsExit: !firstListing)
        }
        state.listedOnce = true
    }

    /// Remembers when each listed file was first seen, forgetting files no longer listed.
    private func noteFirstSeen(_ state: inout State, now: Double) {
        var seen: [FileKey: Double] = [:]
        for files in state.listing.byPid.values {
            for (name, inode) in zip(files.names, files.inodes) {
                let key = FileKey(name: name, inode: inode)
                seen[key] = state.firstSeen[key] ?? now
            }
        }
        state.firstSeen = seen
    }

    /// A cheap look at an unclaimed pid due again: true (and the next look scheduled) when
    /// the same holder, or still none, holds it, or when a new holder cannot be a worker of the
    /// app (the app has parents, and none of them forked it), so no full look (its memory map)
    /// is needed.
    private func stillUnclaimed(_ pid: Int, _ unclaimed: UnclaimedPids.Entry, state: inout State, now: Double) -> Bool {
        guard !unclaimed.unconfirmed else { return false }
        let holder: ProcessStat?
        switch processes.stat(of: pid) {
        case .success(let stat): holder = stat
        case .failure(.gone): holder = nil
        case .failure: return false
        }
        if holder?.startTicks != unclaimed.holderStart {
            let parents = state.members.values.filter(\.isParent)
            guard let holder, !parents.isEmpty, !parents.contains(where: { $0.pid == holder.parent }) else { return false }
            state.unclaimed[pid]?.holderStart = holder.startTicks  // another program's process took the pid
        }
        let backoff = min(unclaimed.backoff * 2, Self.longestRecheckWait)
        state.unclaimed[pid]?.backoff = backoff
        state.unclaimed[pid]?.nextLook = now + backoff
        return true
    }

    /// Judges the holder of `pid` with ``DeadWorkerRule``: a live writer becomes a member
    /// (and its parent with it); anything else is unclaimed and looked at again later.
    private func look(at pid: Int, files: PidListing.Files, in descriptor: Int32, state: inout State, report: inout WorkerReport,
                      now: Double, ourselves: Set<Int>, countsExit: Bool) {
        var pidFiles: [PidFile] = []
        for name in files.names {
            guard let parsed = MetricFileName(name), let status = FileStatus.of(name, in: descriptor), status.isRegular else { continue }
            let first = state.firstSeen[FileKey(name: name, inode: status.identity.inode)] ?? now
            pidFiles.append(PidFile(name: name, parsed: parsed, status: status, firstSeen: first, now: now, clock: clock))
        }
        report.pidsLookedAt += 1
        let holder = DeadWorkerRule.Holder(of: pid, in: processes, ourselves: ourselves)
        let lookup = holder.lookup
        let candidate = PidFiles(pid: pid, files: pidFiles)
        let judgement = DeadWorkerRule.judge(candidate, holder: holder)
        let firstLook = state.unclaimed[pid] == nil
        state.lookedAtAny = true

        if case .present(let record) = lookup, !record.isZombie, !pidFiles.isEmpty {
            let mapsThem = holder.maps.map(candidate.mapped(in:))
            // Maps them: the writer, even a new worker that reused the pid. Maps unreadable:
            // the rule's "runs as the owner and existed before them".
            if mapsThem ?? (judgement.verdict == .alive && judgement.showsApp) {
                addWriter(record, state: &state, ourselves: ourselves)
                return
            }
        }
        switch judgement.verdict {
        case .dead where countsExit && firstLook && state.sawWriter:
            state.workerExits += 1  // born and gone between two looks
        case .skipped(.notInspectable): report.skipped[.hidden, default: 0] += 1
        case .skipped(.unverifiable): report.skipped[.unverifiable, default: 0] += 1
        case .skipped(.otherNamespace): report.skipped[.otherNamespace, default: 0] += 1
        default: break
        }
        var holderStart: UInt64?
        if case .present(let record) = lookup { holderStart = record.startTicks }
        let previous = state.unclaimed[pid]
        let backoff = previous.map { min($0.backoff * 2, Self.longestRecheckWait) } ?? 1
        state.unclaimed[pid] = UnclaimedPids.Entry(files: files, nextLook: now + backoff, backoff: backoff, holderStart: holderStart,
                                                   unconfirmed: judgement.verdict == .alive, foreign: judgement.showsForeignPid)
    }

    /// Follows a live writer from now on, with the process that forked it when that one is
    /// its parent without `exec`.
    private func addWriter(_ record: ProcessRecord, state: inout State, ourselves: Set<Int>) {
        let stat = record.stat
        var forkedBy: Int?
        if let parentID = state.memberByPid[stat.parent], let parent = state.members[parentID] {
            if Self.forked(stat, from: parent.stat) {
                forkedBy = parentID
                if parent.isWriter && !parent.isParent && parent.forkedBy == nil {
                    // A writer that forks writers: the pre-loaded app's arbiter or master.
                    state.members[parentID]!.isParent = true
                    state.account.promoteToParent(parentID)
                }
            }
        } else if stat.parent > 0, !ourselves.contains(stat.parent), case .success(let parent) = processes.stat(of: stat.parent),
                  !parent.hasExited, Self.forked(stat, from: parent) {
            forkedBy = addMember(pid: stat.parent, stat: parent, isWriter: false, isParent: true, forkedBy: nil, state: &state)
        }
        _ = addMember(pid: record.pid, stat: stat, isWriter: true, isParent: false, forkedBy: forkedBy, state: &state)
        state.sawWriter = true
    }

    private func addMember(pid: Int, stat: ProcessStat, isWriter: Bool, isParent: Bool, forkedBy: Int?, state: inout State) -> Int {
        let id = state.nextMemberID
        state.nextMemberID += 1
        let handle = state.handles < Self.handlesHeld ? ProcessHandle(pid: pid, in: processes) : nil
        if handle != nil { state.handles += 1 }
        state.members[id] = Member(id: id, pid: pid, isWriter: isWriter,
                                   forkedBy: forkedBy, isParent: isParent, stat: stat, handle: handle)
        state.memberByPid[pid] = id
        state.unclaimed[pid] = nil
        state.account.add(id, role: isParent ? .parent : .worker, reading: CPUAccount.Reading(stat, reaper: reaper(of: stat, in: state)))
        return id
    }

    /// Whether `child` was forked by `parent` without `exec`: the same stack start, which
    /// every `exec` places anew; where either is unreadable (zero), the same command name.
    static func forked(_ child: ProcessStat, from parent: ProcessStat) -> Bool {
        guard parent.startTicks <= child.startTicks, !parent.isKernelThread else { return false }
        if child.startStack != 0 && parent.startStack != 0 { return child.startStack == parent.startStack }
        return child.command == parent.command
    }
}
