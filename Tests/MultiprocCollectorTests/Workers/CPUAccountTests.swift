import Testing
@testable import MultiprocCollector

/// ``CPUAccount`` against a model of what the kernel does with CPU times: a process's own
/// times grow while it runs, and a parent that waits for an exited child adds the child's own
/// and children times to its children times (`cutime`/`cstime`); one that does not wait
/// (`SIGCHLD` ignored) adds nothing.
@Suite("CPUAccount: every worker's CPU, exact through reaping, never decreasing")
struct CPUAccountTests {
    typealias Ticks = CPUAccount.Ticks

    /// The kernel's side: processes, their times, reaping. A process's `parent` is its
    /// reaper (`ppid`): ids here are pids and member ids at once.
    struct Kernel {
        struct Process {
            var own = Ticks()
            var children = Ticks()
            var parent: Int?
            var waits = true
            var exited = false
        }

        var processes: [Int: Process] = [:]
        /// Everything every worker ever spent (the truth the account should find).
        var workersSpent = Ticks()
        var parentsSpent = Ticks()
        var parents: Set<Int> = []

        mutating func spend(_ id: Int, user: UInt64, system: UInt64) {
            processes[id]!.own = processes[id]!.own + Ticks(user: user, system: system)
            if parents.contains(id) {
                parentsSpent = parentsSpent + Ticks(user: user, system: system)
            } else {
                workersSpent = workersSpent + Ticks(user: user, system: system)
            }
        }

        /// The exited process is reaped: its times go to a waiting parent.
        mutating func reap(_ id: Int) {
            let process = processes.removeValue(forKey: id)!
            if let parent = process.parent, let p = processes[parent], p.waits {
                processes[parent]!.children = p.children + process.own + process.children
            }
        }

        func reading(_ id: Int) -> CPUAccount.Reading {
            CPUAccount.Reading(own: processes[id]!.own, children: processes[id]!.children, reaper: processes[id]!.parent)
        }
    }

    /// Observes every member: readings for those the kernel still has, gone for the others.
    static func observe(_ account: inout CPUAccount, _ kernel: Kernel) {
        var readings: [Int: CPUAccount.Reading] = [:]
        var gone: Set<Int> = []
        for id in account.members.keys {
            if kernel.processes[id] != nil { readings[id] = kernel.reading(id) } else { gone.insert(id) }
        }
        account.observe(readings: readings, gone: gone)
    }

    @Test func aReapedWorkerIsCountedExactlyIncludingWhatItSpentAfterTheLastLook() {
        var kernel = Kernel()
        kernel.parents = [1]
        kernel.processes[1] = .init(children: Ticks(user: 40, system: 4))  // reaped workers before we started
        kernel.processes[2] = .init(parent: 1)
        kernel.spend(2, user: 10, system: 2)
        var account = CPUAccount()
        account.add(1, role: .parent, reading: kernel.reading(1))
        account.add(2, role: .worker, reading: kernel.reading(2))
        #expect(account.workers == Ticks(user: 50, system: 6))
        kernel.spend(2, user: 7, system: 1)   // after the last look...
        kernel.reap(2)                        // ...then it exits and is reaped
        Self.observe(&account, kernel)
        #expect(account.workers == Ticks(user: 57, system: 7), "the 7+1 ticks after the last look come through cutime")
        #expect(account.members[2] == nil)
    }

    @Test func aParentThatDoesNotWaitLosesOnlyWhatTheWorkerSpentAfterTheLastLook() {
        var kernel = Kernel()
        kernel.parents = [1]
        kernel.processes[1] = .init(waits: false)
        kernel.processes[2] = .init(parent: 1)
        kernel.spend(2, user: 10, system: 2)
        var account = CPUAccount()
        account.add(1, role: .parent, reading: kernel.reading(1))
        account.add(2, role: .worker, reading: kernel.reading(2))
        kernel.spend(2, user: 5, system: 0)
        Self.observe(&account, kernel)
        kernel.spend(2, user: 3, system: 3)
        kernel.reap(2)
        Self.observe(&account, kernel)
        #expect(account.workers == Ticks(user: 15, system: 2), "its last reading stays; the 3+3 after it are lost")
    }

    @Test func aWorkerWithoutATrackedParentKeepsItsLastReading() {
        var account = CPUAccount()
        account.add(7, role: .worker, reading: .init(own: Ticks(user: 3, system: 1), children: Ticks(user: 2, system: 0), reaper: 99))
        #expect(account.members[7]?.last.reaper == nil, "99 is no member")
        account.observe(readings: [:], gone: [7])
        #expect(account.workers == Ticks(user: 5, system: 1))
        #expect(account.members.isEmpty)
    }

    @Test func aParentThatExitsKeepsItsReapedChildrenAndItsOwnTime() {
        var account = CPUAccount()
        account.add(1, role: .parent, reading: .init(own: Ticks(user: 9, system: 9), children: Ticks(user: 20, system: 2)))
        account.add(2, role: .worker, reading: .init(own: Ticks(user: 4, system: 0), children: Ticks(), reaper: 1))
        account.observe(readings: [2: .init(own: Ticks(user: 5, system: 0), children: Ticks())], gone: [1])
        #expect(account.workers == Ticks(user: 25, system: 2))
        #expect(account.parents == Ticks(user: 9, system: 9))
        #expect(account.members[2]?.last.reaper == nil, "reparented")
        account.observe(readings: [:], gone: [2])
        #expect(account.workers == Ticks(user: 25, system: 2))
    }

    @Test func aWorkerFoundToForkWorkersBecomesAParentAndTheWorkersTotalHoldsUntilItIsExactAgain() {
        var account = CPUAccount()
        account.add(1, role: .worker, reading: .init(own: Ticks(user: 30, system: 3), children: Ticks()))
        account.add(2, role: .worker, reading: .init(own: Ticks(user: 1, system: 0), children: Ticks(), reaper: 1))
        account.promoteToParent(1)
        #expect(account.workers == Ticks(user: 31, system: 3), "held: it does not go down")
        #expect(account.parents == Ticks(user: 30, system: 3))
        account.observe(readings: [1: .init(own: Ticks(user: 35, system: 3), children: Ticks(user: 2, system: 0)),
                                   2: .init(own: Ticks(user: 20, system: 1), children: Ticks(), reaper: 1)], gone: [])
        #expect(account.workers == Ticks(user: 31, system: 3), "2 + 20 and 0 + 1: still below what was shown")
        account.observe(readings: [1: .init(own: Ticks(user: 35, system: 3), children: Ticks(user: 2, system: 0)),
                                   2: .init(own: Ticks(user: 40, system: 5), children: Ticks(), reaper: 1)], gone: [])
        #expect(account.workers == Ticks(user: 42, system: 5), "exact again: the parent's reaped children and the live worker")
        #expect(account.parents == Ticks(user: 35, system: 3))
    }

    /// A parent (1), its worker (2, 10 + 1 ticks) and the worker's child (3, 20 + 2), all tracked.
    static func threeGenerations() -> (Kernel, CPUAccount) {
        var kernel = Kernel()
        kernel.parents = [1]
        kernel.processes[1] = .init()
        kernel.processes[2] = .init(parent: 1)
        kernel.processes[3] = .init(parent: 2)
        kernel.spend(2, user: 10, system: 1)
        kernel.spend(3, user: 20, system: 2)
        var account = CPUAccount()
        for id in 1...3 { account.add(id, role: id == 1 ? .parent : .worker, reading: kernel.reading(id)) }
        return (kernel, account)
    }

    /// A worker that runs a writing subprocess (`exec`: not a fork of it, but its child all the
    /// same) and reaps it: the subprocess's time reaches the worker's children times once, not
    /// also as the subprocess's last reading.
    @Test func aWritingSubprocessReapedByItsWorkerIsCountedOnce() {
        var (kernel, account) = Self.threeGenerations()
        kernel.spend(3, user: 5, system: 0)
        kernel.reap(3)
        Self.observe(&account, kernel)
        #expect(account.workers == Ticks(user: 35, system: 3), "10 + 25, and 1 + 2")
        #expect(account.workers == kernel.workersSpent)
    }

    /// A worker whose pool child exits, is reaped by it, and the worker is then recycled and
    /// reaped by the arbiter, all between two looks: the arbiter received both, once.
    @Test func aWorkerAndItsChildGoneInOneLookAreCountedOnce() {
        var (kernel, account) = Self.threeGenerations()
        kernel.spend(3, user: 4, system: 0)
        kernel.spend(2, user: 3, system: 0)
        kernel.reap(3)
        kernel.reap(2)
        Self.observe(&account, kernel)
        #expect(account.workers == Ticks(user: 37, system: 3))
        #expect(account.workers == kernel.workersSpent)
        #expect(account.members.keys.sorted() == [1])
    }

    /// The same, but the worker exits first: its child is orphaned (reparented to an untracked
    /// init, which reaps it): the child's last reading stays, what it spent after is lost.
    @Test func anOrphanedChildKeepsItsLastReading() {
        var (kernel, account) = Self.threeGenerations()
        kernel.processes[3]!.parent = nil  // 2 exits: 3 goes to init
        kernel.reap(2)
        kernel.spend(3, user: 6, system: 0)
        kernel.reap(3)
        Self.observe(&account, kernel)
        #expect(account.workers == Ticks(user: 30, system: 3), "the 6 ticks after the last look are lost")
    }

    /// Random lives of workers that fork workers (pools, subprocesses), several generations
    /// deep, reaped by whoever forked them, often several of a family between two looks. With
    /// `orphans`, a worker may exit before its children, which go to init at its exit (as
    /// Linux reparents them) and are reaped by it: their time after their last reading is
    /// lost, but nothing is ever counted twice. Without, every worker waits for its children
    /// first, and the total is exact at every look.
    @Test(arguments: [(1, false), (2, false), (3, false), (4, true), (5, true), (6, true)] as [(UInt64, Bool)])
    func nestedWorkersAreNeverCountedTwice(seed: UInt64, orphans: Bool) {
        var random = CacheRandomizedTests.SplitMix64(state: seed)
        var kernel = Kernel()
        kernel.parents = [1]
        kernel.processes[1] = .init()
        var account = CPUAccount()
        account.add(1, role: .parent, reading: kernel.reading(1))
        var nextID = 2
        var previous = account.workers
        for _ in 0..<3000 {
            let alive = kernel.processes.filter { !$0.value.exited && $0.key != 1 }.map(\.key).sorted()
            switch random.next() % 8 {
            case 0, 1:
                let parent = alive.isEmpty || random.next() % 3 == 0 ? 1 : alive[Int(random.next() % UInt64(alive.count))]
                kernel.processes[nextID] = .init(parent: parent)
                nextID += 1
            case 2, 3:
                guard !alive.isEmpty else { continue }
                kernel.spend(alive[Int(random.next() % UInt64(alive.count))], user: random.next() % 50, system: random.next() % 10)
            case 4:
                guard !alive.isEmpty else { continue }
                let id = alive[Int(random.next() % UInt64(alive.count))]
                let children = kernel.processes.filter { $0.value.parent == id }.map(\.key)
                guard children.isEmpty || orphans else { continue }
                kernel.processes[id]!.exited = true
                for child in children { kernel.processes[child]!.parent = nil }  // orphans go to init at the exit
            case 5, 6:
                // Reap some of the exited, children before parents half of the time.
                var exited = kernel.processes.filter(\.value.exited).map(\.key).sorted()
                if random.next() % 2 == 0 { exited.reverse() }
                for id in exited where random.next() % 3 != 0 { kernel.reap(id) }
                // Init reaps the exited orphans, adding nothing anyone tracked sees.
                for (id, process) in kernel.processes where process.exited && process.parent == nil { kernel.reap(id) }
            default:
                // A look: new processes are found (parents before children), then everyone is read.
                for id in kernel.processes.keys.sorted() where account.members[id] == nil {
                    account.add(id, role: .worker, reading: kernel.reading(id))
                }
                Self.observe(&account, kernel)
                #expect(account.workers.user >= previous.user && account.workers.system >= previous.system, "never decreasing")
                #expect(account.workers.user <= kernel.workersSpent.user && account.workers.system <= kernel.workersSpent.system,
                        "never counted twice: \(account.workers) of \(kernel.workersSpent) spent")
                if !orphans { #expect(account.workers == kernel.workersSpent, "exact while every worker waits for its children") }
                previous = account.workers
            }
        }
    }

    /// Random lives: workers forked, spending, exiting, reaped at once or later; a parent that
    /// sometimes does not wait; looks in between. The totals never decrease, and while every
    /// parent waits they equal what every worker spent.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func randomLivesNeverDecreaseAndAreExactWhileParentsWait(seed: UInt64) {
        var random = CacheRandomizedTests.SplitMix64(state: seed)
        let ignoring = seed % 2 == 0
        var kernel = Kernel()
        kernel.parents = [1, 2]
        kernel.processes[1] = .init()
        kernel.processes[2] = .init(waits: !ignoring)
        var account = CPUAccount()
        account.add(1, role: .parent, reading: kernel.reading(1))
        account.add(2, role: .parent, reading: kernel.reading(2))
        var nextID = 3
        var lost = Ticks()  // spent by workers of the parent that does not wait, after their last look
        var sinceLook: [Int: Ticks] = [:]
        var previous = (workers: account.workers, parents: account.parents)
        for _ in 0..<3000 {
            let alive = kernel.processes.filter { !$0.value.exited && !kernel.parents.contains($0.key) }.map(\.key).sorted()
            switch random.next() % 8 {
            case 0, 1:
                let parent = 1 + Int(random.next() % 2)
                kernel.processes[nextID] = .init(parent: parent)
                nextID += 1
            case 2, 3, 4:
                guard !alive.isEmpty else { continue }
                let id = alive[Int(random.next() % UInt64(alive.count))]
                let spent = Ticks(user: random.next() % 50, system: random.next() % 10)
                kernel.spend(id, user: spent.user, system: spent.system)
                sinceLook[id, default: Ticks()] = sinceLook[id, default: Ticks()] + spent
            case 5:
                if let id = alive.first { kernel.processes[id]!.exited = true }
            case 6:
                for id in kernel.processes.filter(\.value.exited).map(\.key) where random.next() % 2 == 0 {
                    if kernel.processes[id]!.parent == 2 && ignoring {
                        // Seen: its last reading stays. Never seen: all of it is gone.
                        lost = lost + (account.members[id] != nil ? sinceLook[id] ?? Ticks() : kernel.processes[id]!.own)
                    }
                    kernel.reap(id)
                }
            default:
                // A look: new workers are found (with their times so far), then everyone is read.
                for (id, process) in kernel.processes where account.members[id] == nil {
                    account.add(id, role: .worker, reading: kernel.reading(id))
                }
                Self.observe(&account, kernel)
                sinceLook = [:]
                let now = (workers: account.workers, parents: account.parents)
                #expect(now.workers.user >= previous.workers.user && now.workers.system >= previous.workers.system)
                #expect(now.parents == previous.parents, "parents spend nothing here")
                previous = now
                // Exact while every parent waits; otherwise short by exactly what workers of the
                // parent that does not wait spent after they were last seen.
                #expect(now.workers + lost == kernel.workersSpent)
                #expect(ignoring || lost == Ticks())
            }
        }
    }
}
