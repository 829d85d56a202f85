import Glibc
import MultiprocSupport

/// One thread that runs maintenance jobs (compaction passes) at fixed intervals, one job at
/// a time, never on the event loop and never on the scrape workers: a pass that takes a
/// while delays the next pass, not a scrape.
///
/// The thread wakes every ``tick`` to check what is due and whether to stop, which bounds
/// both the lateness of a job and the time ``stop()`` waits.
final class PeriodicJobs: @unchecked Sendable {
    struct Job: Sendable {
        let name: String
        /// Seconds between the end of one run and the start of the next.
        let interval: Double
        let run: @Sendable () -> Void
    }

    static let tick: Double = 0.05

    // Invariant: `stopping` is only touched under its lock; `thread` only by start/stop.
    private let stopping = Locked(false)
    private var thread: pthread_t?
    private let jobs: [Job]

    /// Starts the thread; the first run of each job comes one interval from now.
    init(_ jobs: [Job]) {
        self.jobs = jobs
        guard !jobs.isEmpty else { return }
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let jobs = Unmanaged<PeriodicJobs>.fromOpaque(raw!).takeRetainedValue()
            jobs.loop()
            return nil
        }, context)
        if rc == 0 { self.thread = thread } else { Unmanaged<PeriodicJobs>.fromOpaque(context).release() }
    }

    /// Lets a job in progress finish, then ends the thread; waits for it unless `waiting` is
    /// false (a job that may be stuck in the kernel must not hold up shutdown: the thread then
    /// ends on its own, or with the process).
    func stop(waiting: Bool = true) {
        stopping.withLock { $0 = true }
        if let thread {
            if waiting { pthread_join(thread, nil) } else { pthread_detach(thread) }
        }
        thread = nil
    }

    private func loop() {
        var due = jobs.map { monotonicNow() + $0.interval }
        while !stopping.withLock({ $0 }) {
            let now = monotonicNow()
            for (i, job) in jobs.enumerated() where due[i] <= now {
                job.run()
                due[i] = monotonicNow() + job.interval
                if stopping.withLock({ $0 }) { return }
            }
            usleep(useconds_t(Self.tick * 1_000_000))
        }
    }
}
