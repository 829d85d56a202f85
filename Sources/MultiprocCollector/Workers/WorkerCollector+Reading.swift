import Glibc

// MARK: - Reading the members, consistently

extension WorkerCollector {
    /// Attempts at a consistent reading of the members' times before this look leaves the
    /// totals as they were.
    static let consistentReadAttempts = 3
    /// Looks in a row that a member's `stat` may fail (not as gone) and hold the totals; from
    /// the next, the look goes on with its last reading.
    static let unreadableLooksHeld = 2

    /// Reads every member: `stat` for all (consistently: see ``readTimes(_:)``), descriptors
    /// for the live ones; counts exits, updates the CPU totals, fills `report`.
    func read(_ state: inout State, into report: inout WorkerReport) {
        let (readings, gone, unreadable, consistent) = readTimes(state)
        for id in state.members.keys {
            state.members[id]!.unreadableLooks = unreadable.contains(id) ? state.members[id]!.unreadableLooks + 1 : 0
        }
        report.skipped[.unreadable, default: 0] += unreadable.count
        if consistent {
            settle(&state, readings: readings, gone: gone, report: &report)
        } else {
            // Children were reaped under every attempt: the totals wait for the next look.
            for (id, stat) in readings { state.members[id]?.stat = stat }
        }
        for member in state.members.values.sorted(by: { $0.pid < $1.pid }) where !member.exited && !unreadable.contains(member.id) {
            guard let stat = readings[member.id], !stat.hasExited else { continue }
            var process = ObservedProcess(
                pid: member.pid, cpu: seconds(CPUAccount.Ticks(user: stat.userTicks, system: stat.systemTicks)),
                residentBytes: Double(stat.residentPages) * processes.pageSize, proportionalBytes: member.proportionalBytes,
                virtualBytes: Double(stat.virtualBytes), threads: Double(stat.threads),
                startTime: bootTime + Double(stat.startTicks) / processes.ticksPerSecond)
            var exited = false
            func note(_ failure: ProcReadFailure) {
                switch failure {
                case .gone: exited = true
                case .denied: report.skipped[.permissionDenied, default: 0] += 1
                case .failed: break
                }
            }
            switch member.handle?.openDescriptors() ?? processes.openDescriptors(of: member.pid) {
            case .success(let count): process.openDescriptors = Double(count)
            case .failure(let failure): note(failure)
            }
            switch processes.maxOpenDescriptors(of: member.pid) {
            case .success(let limit): process.maxDescriptors = limit
            case .failure(let failure): note(failure)
            }
            if exited {
                // It exited while it was read: no series this time; the next look counts the exit.
                report.skipped[.exited, default: 0] += 1
                continue
            }
            if member.isParent { report.parents.append(process) } else { report.workers.append(process) }
        }
        report.workersCPU = seconds(state.account.workers)
        report.parentsCPU = seconds(state.account.parents)
        report.workerExits = state.workerExits
        report.parentExits = state.parentExits
    }

    /// The `stat` of every member, reapers (parents in the kernel's sense) before the members
    /// they will reap, then the reapers' again: if a reaper's children times moved meanwhile, a
    /// child was reaped during the reading (and may show both in its parent and as itself, or in
    /// neither), so everything is read again. A process being reaped right now (`X`) forces
    /// another reading too, and so does a member that could not be read but is not known gone
    /// (`EMFILE`, `ENOMEM`, `EACCES`): taking it for gone would count its time twice when it is
    /// found again. One that stays so for more than ``unreadableLooksHeld`` looks is taken at
    /// its last reading instead (`unreadable`, no series), so that the others' totals and
    /// exits go on: what it reaps meanwhile may then be counted twice once it is read again.
    private func readTimes(_ state: State) -> (readings: [Int: ProcessStat], gone: Set<Int>, unreadable: Set<Int>, consistent: Bool) {
        let order = state.members.values.map { (member: $0, depth: depth(of: $0, in: state)) }
            .sorted { $0.depth < $1.depth }.map(\.member)
        let reapers = Set(order.compactMap { reaper(of: $0.stat, in: state) })
        var readings: [Int: ProcessStat] = [:]
        var gone: Set<Int> = []
        var unreadable: Set<Int> = []
        for _ in 0..<Self.consistentReadAttempts {
            readings = [:]
            gone = []
            unreadable = []
            var inFlux = false
            for member in order {
                switch stat(of: member) {
                case .success(let stat) where stat.startTicks == member.startTicks:
                    if stat.state == "X" { inFlux = true }
                    readings[member.id] = stat
                case .success, .failure(.gone):
                    gone.insert(member.id)  // reaped, or another process in its pid
                case .failure:
                    unreadable.insert(member.id)
                    if member.unreadableLooks < Self.unreadableLooksHeld { inFlux = true } else { readings[member.id] = member.stat }
                }
            }
            if inFlux { continue }
            let moved = reapers.contains { id in
                guard let first = readings[id], let forker = state.members[id] else { return false }
                guard case .success(let again) = stat(of: forker), again.startTicks == first.startTicks else { return true }
                return again.childrenUserTicks != first.childrenUserTicks || again.childrenSystemTicks != first.childrenSystemTicks
            }
            if !moved { return (readings, gone, unreadable, true) }
        }
        return (readings, gone, unreadable, false)
    }

    /// A consistent reading: exits counted, vanished members dropped (their pids unclaimed, to
    /// be looked at again), the CPU totals advanced.
    private func settle(_ state: inout State, readings: [Int: ProcessStat], gone: Set<Int>, report: inout WorkerReport) {
        let now = clock.bootNow()
        for id in gone {
            let member = state.members[id]!
            if !member.exited { countExit(member, state: &state) }
            if member.handle != nil { state.handles -= 1 }
            state.members[id] = nil
            if state.memberByPid[member.pid] == id { state.memberByPid[member.pid] = nil }
            // Its files stay (until mark-dead or compaction): nothing to look at before they
            // change, unless the pid went to another process, which may be a new worker.
            if let files = state.listing.byPid[member.pid] {
                var holderStart: UInt64?
                if case .success(let stat) = processes.stat(of: member.pid) { holderStart = stat.startTicks }
                state.unclaimed[member.pid] = UnclaimedPids.Entry(files: files, nextLook: holderStart == nil ? now + 1 : now, backoff: 1,
                                                                  holderStart: holderStart, unconfirmed: holderStart != nil, foreign: false)
            }
        }
        for (id, stat) in readings {
            state.members[id]!.stat = stat
            if stat.hasExited && !state.members[id]!.exited {
                state.members[id]!.exited = true
                countExit(state.members[id]!, state: &state)
            }
        }
        state.account.observe(readings: readings.mapValues { CPUAccount.Reading($0, reaper: reaper(of: $0, in: state)) }, gone: gone)
        for id in state.members.keys where state.members[id]!.forkedBy.map({ state.members[$0] == nil }) == true {
            state.members[id]!.forkedBy = nil  // its parent exited: reparented
        }
    }

    /// The member that is the parent of the process `stat` describes (`ppid`; not a younger
    /// process that took a dead parent's pid): who will reap it, `exec` or not.
    func reaper(of stat: ProcessStat, in state: State) -> Int? {
        guard let id = state.memberByPid[stat.parent], let parent = state.members[id], parent.startTicks <= stat.startTicks else { return nil }
        return id
    }

    /// A member's `stat`: through its handle when it holds one (a reaped process then reads as
    /// gone, whoever has its pid now), else by path.
    private func stat(of member: Member) -> Result<ProcessStat, ProcReadFailure> {
        member.handle?.stat() ?? processes.stat(of: member.pid)
    }

    private func countExit(_ member: Member, state: inout State) {
        if member.isParent { state.parentExits += 1 } else { state.workerExits += 1 }
    }

    /// How many tracked parents a member has above it.
    private func depth(of member: Member, in state: State) -> Int {
        var depth = 0
        var next = reaper(of: member.stat, in: state)
        while let id = next, let parent = state.members[id], depth < 64 {
            depth += 1
            next = reaper(of: parent.stat, in: state)
        }
        return depth
    }

    private func seconds(_ ticks: CPUAccount.Ticks) -> CPUTime {
        CPUTime(user: Double(ticks.user) / processes.ticksPerSecond, system: Double(ticks.system) / processes.ticksPerSecond)
    }
}
