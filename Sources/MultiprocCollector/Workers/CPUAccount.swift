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
/// tick lost. `retired` keeps what the kernel no longer shows anyone:
///
/// - a worker whose parent is not tracked (not found, or not the one that forked it), or
///   whose parent exited too: its last reading (what it spent since is lost);
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
/// when they moved), or a reaped child would be counted twice or missing for one look.
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

    /// One process's times, as `/proc/<pid>/stat` gives them.
    struct Reading: Equatable {
        /// Its own (`utime`, `stime`).
        var own: Ticks
        /// Of the children it waited for, and theirs (`cutime`, `cstime`).
        var children: Ticks

        init(own: Ticks, children: Ticks) {
            self.own = own
            self.children = children
        }

        init(_ stat: ProcessStat) {
            own = Ticks(user: stat.userTicks, system: stat.systemTicks)
            children = Ticks(user: stat.childrenUserTicks, system: stat.childrenSystemTicks)
        }
    }

    enum Role { case worker, parent }

    /// A tracked process: its role, the tracked process that forked it (whose children times
    /// will receive its own when it is reaped), and its last reading.
    struct Member {
        var role: Role
        var forkedBy: Int?
        var last: Reading

        /// What it adds to the workers' total now.
        var workerShare: Ticks { role == .worker ? last.own + last.children : last.children }
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
    mutating func add(_ id: Int, role: Role, forkedBy: Int?, reading: Reading) {
        members[id] = Member(role: role, forkedBy: forkedBy.flatMap { members[$0] == nil ? nil : $0 }, last: reading)
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
    /// (reaped, its pid now held by another process, or no longer readable).
    mutating func observe(readings: [Int: Reading], gone: Set<Int>) {
        // What each surviving parent should have received from its children that vanished.
        var expected: [Int: Ticks] = [:]
        for id in gone {
            guard let member = members[id] else { continue }
            if let parent = member.forkedBy, readings[parent] != nil, !gone.contains(parent) {
                expected[parent, default: Ticks()] = expected[parent, default: Ticks()] + member.workerShare
            } else {
                retire(member)
            }
        }
        for (parent, owed) in expected {
            let received = readings[parent]!.children - members[parent]!.last.children
            // A parent that does not wait (or reaped less than it was owed): keep the rest.
            retiredWorkers = retiredWorkers + (owed - received)
        }
        for id in gone { members[id] = nil }
        for (id, reading) in readings {
            guard var member = members[id] else { continue }
            member.last = Reading(own: reading.own.atLeast(member.last.own), children: reading.children.atLeast(member.last.children))
            if let parent = member.forkedBy, members[parent] == nil { member.forkedBy = nil }  // reparented
            members[id] = member
        }
        updateTotals()
    }

    private mutating func retire(_ member: Member) {
        retiredWorkers = retiredWorkers + member.workerShare
        if member.role == .parent { retiredParents = retiredParents + member.last.own }
    }
}
