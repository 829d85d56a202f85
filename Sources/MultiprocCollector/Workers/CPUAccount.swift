// MARK: - CPU of every worker that ever ran, monotonic across deaths

/// Keeps the CPU time of every worker (and every parent) that ever ran, from readings of the
/// processes alive now, so that the totals never decrease when processes exit.
///
/// **The kernel does most of the work.** When a parent waits for (reaps) an exited child,
/// the child's CPU time, and that of the children it waited for, is added to the parent's
/// `cutime`/`cstime` — exactly, including the time the child spent after anyone last looked.
/// So the workers' total is
///
///     Σ parents' children times + Σ live workers' (own + children times) + retired
///
/// and a worker that dies and is reaped moves from the second term to the first without a
/// tick lost. Who receives it is whoever reaps it: its parent in the kernel's sense (`ppid`),
/// whether it forked the worker with or without `exec` — the arbiter, or a worker that ran a
/// writing subprocess. `retired` keeps what the kernel no longer shows anyone:
///
/// - a member whose parent is not tracked: its last reading (what it spent since is lost);
/// - members gone with their parent in the same look (reaped by the next tracked ancestor,
///   which then received all of them, or orphaned and reaped by another process): what the
///   nearest surviving tracked ancestor did not receive of their last readings — in one sum,
///   so what the others spent after their last readings may stand in for an orphan's;
/// - a worker whose parent's children times grew by less than the worker's last reading when
///   it vanished: a parent that does not wait (`SIGCHLD` ignored: the kernel reaps and adds
///   nothing), so the shortfall, its last reading, is kept;
/// - a parent that exits: its children times (and its own, in the parents' total).
///
/// A worker found to be a parent after all (a pre-loaded arbiter seen before it forked) stops
/// counting its own time among the workers'. The workers' total then holds still instead of
/// going down, until the workers have spent that much again, and is exact from then on: the
/// totals shown are the largest ever computed, per mode.
///
/// A reading must be consistent: no child reaped between reading it and reading its parent
/// (``WorkerCollector`` reads the parents again after the workers and reads everything again
/// when they moved), or a reaped child would be counted twice or missing for one look; and
/// complete: a member that could not be read (but is not known gone) leaves the totals as they
/// were for that look.
struct CPUAccount {
    /// Clock ticks in user and kernel mode.
    struct Ticks: Equatable {
        var user: UInt64 = 0
        var system: UInt64 = 0

        static func + (a: Ticks, b: Ticks) -> Ticks { Ticks(user: a.user &+ b.user, system: a.system &+ b.system) }
        /// What `a` has beyond `b`, per mode (never below zero).
        static func - (a: Ticks, b: Ticks) -> Ticks {
            Ticks(user: a.user > b.user ? a.user - b.user : 0, system: a.system > b.system ? a.system - b.system : 0)
        }
        /// The larger of each mode.
        func atLeast(_ other: Ticks) -> Ticks { Ticks(user: max(user, other.user), system: max(system, other.system)) }
    }

    /// One process's times, as `/proc/<pid>/stat` gives them, and who will reap it.
    struct Reading: Equatable {
        /// Its own (`utime`, `stime`).
        var own: Ticks
        /// Of the children it waited for, and theirs (`cutime`, `cstime`).
        var children: Ticks
        /// The member that is its parent now (`ppid`), whose children times receive its own
        /// when it is reaped; nil when its parent is not tracked.
        var reaper: Int?

        init(own: Ticks, children: Ticks, reaper: Int? = nil) {
            self.own = own
            self.children = children
            self.reaper = reaper
        }

        init(_ stat: ProcessStat, reaper: Int?) {
            own = Ticks(user: stat.userTicks, system: stat.systemTicks)
            children = Ticks(user: stat.childrenUserTicks, system: stat.childrenSystemTicks)
            self.reaper = reaper
        }
    }

    enum Role { case worker, parent }

    /// A tracked process: its role and its last reading (with the member that will reap it).
    struct Member {
        var role: Role
        var last: Reading

        /// What it adds to the workers' total now.
        var workerShare: Ticks { role == .worker ? last.own + last.children : last.children }
        /// What its reaper receives when it reaps it: all of its last reading, whatever its role
        /// (a parent reaped by a member moves its own time into that member's children times,
        /// so into the workers' total, where the parents' total holds it).
        var reaped: Ticks { last.own + last.children }
    }

    /// Members by an id the caller chose (a pid can be reused: ids are not pids).
    private(set) var members: [Int: Member] = [:]
    private var retiredWorkers = Ticks()
    private var retiredParents = Ticks()
    /// The largest totals computed so far.
    private(set) var workers = Ticks()
    private(set) var parents = Ticks()

    /// CPU of every worker that ever ran, as far as tracked, now.
    private var workersNow: Ticks {
        members.values.reduce(retiredWorkers) { $0 + $1.workerShare }
    }

    /// Own CPU of every parent that ever ran, as far as tracked, now.
    private var parentsNow: Ticks {
        members.values.reduce(retiredParents) { $0 + ($1.role == .parent ? $1.last.own : Ticks()) }
    }

    private mutating func updateTotals() {
        workers = workers.atLeast(workersNow)
        parents = parents.atLeast(parentsNow)
    }

    /// Starts tracking a process, from its reading now (its past counts from now on: a new
    /// worker's time since its start, a new parent's reaped children).
    mutating func add(_ id: Int, role: Role, reading: Reading) {
        var reading = reading
        if let reaper = reading.reaper, members[reaper] == nil { reading.reaper = nil }
        members[id] = Member(role: role, last: reading)
        updateTotals()
    }

    /// A worker turned out to fork workers: from now on it counts as a parent (see the
    /// type's doc for the workers' total).
    mutating func promoteToParent(_ id: Int) {
        guard members[id]?.role == .worker else { return }
        members[id]?.role = .parent
        updateTotals()
    }

    /// One consistent look: `readings` for every member still running (or exited but not
    /// reaped: a zombie's times are final and still its own), `gone` for every other member
    /// (reaped, or its pid now held by another process).
    mutating func observe(readings: [Int: Reading], gone: Set<Int>) {
        // What each surviving reaper should have received from the members that vanished.
        var expected: [Int: Ticks] = [:]
        for id in gone {
            guard let member = members[id] else { continue }
            if let heir = survivingAncestor(of: member, gone: gone, readings: readings) {
                expected[heir, default: Ticks()] = expected[heir, default: Ticks()] + member.reaped
            } else {
                retire(member)
            }
        }
        for (heir, owed) in expected {
            let received = readings[heir]!.children - members[heir]!.last.children
            // A parent that does not wait (or reaped less than it was owed): keep the rest.
            // Owed by several, received in one sum: what some spent after their last reading
            // can stand in for an orphan among them that another process reaped.
            retiredWorkers = retiredWorkers + (owed - received)
        }
        for id in gone { members[id] = nil }
        for (id, reading) in readings {
            guard var member = members[id] else { continue }
            member.last = Reading(own: reading.own.atLeast(member.last.own), children: reading.children.atLeast(member.last.children),
                                  reaper: reading.reaper.flatMap { members[$0] == nil ? nil : $0 })
            members[id] = member
        }
        updateTotals()
    }

    /// The member that received (or should have) what `member` and the members between them
    /// that vanished in the same look spent: a member that exits after reaping its own child
    /// hands both to its reaper. Nil when the chain leaves the tracked members.
    private func survivingAncestor(of member: Member, gone: Set<Int>, readings: [Int: Reading]) -> Int? {
        var next = member.last.reaper
        for _ in 0..<64 {
            guard let id = next else { return nil }
            guard gone.contains(id) else { return readings[id] != nil ? id : nil }
            next = members[id]?.last.reaper
        }
        return nil
    }

    private mutating func retire(_ member: Member) {
        retiredWorkers = retiredWorkers + member.workerShare
        if member.role == .parent { retiredParents = retiredParents + member.last.own }
    }
}
