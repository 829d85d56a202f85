import Glibc
import MultiprocSupport

/// A few plain threads that run jobs in FIFO order: merges, rendering, gzip and mark-dead run
/// here so that the event loop never waits for the file system or the CPU.
///
/// Plain pthreads rather than Swift concurrency: a merge is seconds of blocking work, which
/// must not occupy the cooperative pool; and the loop only needs "run this somewhere else".
final class WorkerPool: @unchecked Sendable {
    // Invariant: `jobs` is only touched under its lock; `available` is a counting semaphore
    // (one post per queued job or stop request) that is safe to use from any thread. Slots
    // before `head` are nil: a job is let go as soon as a worker takes it, because jobs
    // capture their submitters (the scrape coordinator, which holds this pool), and a job kept
    // in the queue would make that a reference cycle outliving the server.
    private let jobs = Locked<(queue: [(@Sendable () -> Void)?], head: Int, stopping: Bool)>(([], 0, false))
    private let available: UnsafeMutablePointer<sem_t>
    let threadCount: Int

    /// Starts `threads` workers named `name`.
    init(threads: Int, name: String) {
        threadCount = max(1, threads)
        available = .allocate(capacity: 1)
        sem_init(available, 0, 0)
        for i in 0..<threadCount {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, name: "\(name)-\(i)")).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                context.pool.runWorker(named: context.name)
                return nil
            }, context)
            precondition(rc == 0, "pthread_create failed: \(rc)")
            pthread_detach(thread)
        }
    }

    /// Queues `job`; it runs on one of the pool's threads.
    func submit(_ job: @escaping @Sendable () -> Void) {
        let accepted = jobs.withLock { state -> Bool in
            guard !state.stopping else { return false }
            state.queue.append(job)
            return true
        }
        if accepted { sem_post(available) }
    }

    /// Lets the threads finish the queued jobs and exit. Does not wait for them.
    func stop() {
        jobs.withLock { $0.stopping = true }
        for _ in 0..<threadCount { sem_post(available) }
    }

    private func runWorker(named _: String) {
        while true {
            while sem_wait(available) != 0 {}  // EINTR
            let job = jobs.withLock { state -> (@Sendable () -> Void)? in
                guard state.head < state.queue.count else { return nil }
                let job = state.queue[state.head].take()
                state.head += 1
                if state.head > 64 && state.head * 2 > state.queue.count {
                    state.queue.removeFirst(state.head)
                    state.head = 0
                }
                return job
            }
            guard let job else { return }  // a stop post with nothing queued
            job()
        }
    }

    // Every worker holds the pool (through its context) until its thread returns, so the pool
    // goes away only when no thread can be waiting on the semaphore any more.
    deinit {
        sem_destroy(available)
        available.deallocate()
    }
}

private final class WorkerContext {
    let pool: WorkerPool
    let name: String
    init(pool: WorkerPool, name: String) {
        self.pool = pool
        self.name = name
    }
}
