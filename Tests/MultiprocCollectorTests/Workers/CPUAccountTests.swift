import Testing
@testable import MultiprocCollector

/// ``CPUAccount`` against a model of what the kernel does with CPU times: a process's own
/// times grow while it runs, and a parent that waits for an exited child adds the child's own
/// and children times to its children times (`cutime`/`cstime`); one that does not wait
/// (`SIGCHLD` ignored) adds nothing.
@Suite("CPUAccount: every worker's CPU, exact through reaping, never decreasing")
struct CPUAccountTests {
    typealias Ticks = CPUAccount.Ticks

    /// The kernel's side: processes, their times, reaping.
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
            CPUAccount.Reading(own: processes[id]!.own, children: processes[id]!.children)
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
        account.add(1, role: .parent, forkedBy: nil, reading: kernel.reading(1))
        account.add(2, role: .worker, forkedBy: 1, reading: kernel.reading(2))
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
        account.add(1, role: .parent, forkedBy: nil, reading: kernel.reading(1))
        account.add(2, role: .worker, forkedBy: 1, reading: kernel.reading(2))
        kernel.spend(2, user: 5, system: 0)
        Self.observe(&account, kernel)
        kernel.spend(2, user: 3, system: 3)
        kernel.reap(2)
        Self.observe(&account, kernel)
        #expect(account.workers == Ticks(user: 15, system: 2), "its last reading stays; the 3+3 after it are lost")
    }

    @Test func aWorkerWithoutATrackedParentKeepsItsLastReading() {
        var account = CPUAccount()
        account.add(7, role: .worker, forkedBy: 99, reading: .init(own: Ticks(user: 3, system: 1), children: Ticks(user: 2, system: 0)))
        #expect(account.members[7]?.forkedBy == nil, "99 is no member")
        account.observe(readings: [:], gone: [7])
        #expect(account.workers == Ticks(user: 5, system: 1))
        #expect(account.members.isEmpty)
    }

    @Test func aParentThatExitsKeepsItsReapedChildrenAndItsOwnTime() {
        var account = CPUAccount()
        account.add(1, role: .parent, forkedBy: nil, reading: .init(own: Ticks(user: 9, system: 9), children: Ticks(user: 20, system: 2)))
        account.add(2, role: .worker, forkedBy: 1, reading: .init(own: Ticks(user: 4, system: 0), children: Ticks()))
        account.observe(readings: [2: .init(own: Ticks(user: 5, system: 0), children: Ticks())], gone: [1])
        #expect(account.workers == Ticks(user: 25, system: 2))
        #expect(account.parents == Ticks(user: 9, system: 9))
        #expect(account.members[2]?.forkedBy == nil, "reparented")
        account.observe(readings: [:], gone: [2])
        #expect(account.workers == Ticks(user: 25, system: 2))
    }

    @Test func aWorkerFoundToForkWorkersBecomesAParentAndTheWorkersTotalHoldsUntilItIsExactAgain() {
        var account = CPUAccount()
        account.add(1, role: .worker, forkedBy: nil, reading: .init(own: Ticks(user: 30, system: 3), children: Ticks()))
        account.add(2, role: .worker, forkedBy: 1, reading: .init(own: Ticks(user: 1, system: 0), children: Ticks()))
        account.promoteToParent(1)
        #expect(account.workers == Ticks(user: 31, system: 3), "held: it does not go down")
        #expect(account.parents == Ticks(user: 30, system: 3))
        account.observe(readings: [1: .init(own: Ticks(user: 35, system: 3), children: Ticks(user: 2, system: 0)),
                                   2: .init(own: Ticks(user: 20, system: 1), children: Ticks())], gone: [])
        #expect(account.workers == Ticks(user: 31, system: 3), "2 + 20 and 0 + 1: still below what was shown")
        account.observe(readings: [1: .init(own: Ticks(user: 35, system: 3), children: Ticks(user: 2, system: 0)),
                                   2: .init(own: Ticks(user: 40, system: 5), children: Ticks())], gone: [])
        #expect(account.workers == Ticks(user: 42, system: 5), "exact again: the parent's reaped children and the live worker")
        #expect(account.parents == Ticks(user: 35, system: 3))
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
        account.add(1, role: .parent, forkedBy: nil, reading: kernel.reading(1))
        account.add(2, role: .parent, forkedBy: nil, reading: kernel.reading(2))
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
                    account.add(id, role: .worker, forkedBy: process.parent, reading: kernel.reading(id))
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
