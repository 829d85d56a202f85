import Logging
import MultiprocCollector
import MultiprocSupport

/// `serve --auto-mark-dead`: every interval, a ``DeadWorkerFinder`` check on a worker, and
/// each pid it finds dead marked through ``MarkDeadAction``, exactly as
/// `POST /mark-dead/<pid>` would.
///
/// ``check()`` runs on the maintenance thread (``PeriodicJobs``, every interval) and once on a
/// worker at start, never on the event loop. A check asked for while another runs is skipped,
/// so checks never pile up.
final class AutoMarkDeadJob: Sendable {
    private let finder: DeadWorkerFinder
    private let source: any MetricsSource
    private let action: MarkDeadAction
    private let logger: Logger

    private struct State {
        var running = false
        /// What the last check that needed it said about visibility (nil before).
        var visible: Bool?
        /// The last problem writing the sightings record, logged once.
        var sightingsProblem: String?
    }

    private let state = Locked(State())

    init(finder: DeadWorkerFinder, source: any MetricsSource, action: MarkDeadAction, logger: Logger) {
        self.finder = finder
        self.source = source
        self.action = action
        self.logger = logger
        action.metrics.autoMarkDead.enable()
    }

    /// One check, and mark-dead for what it found dead; nothing if a check is running. Blocks
    /// (`/proc` and directory reads, unlinks): never call it on the event loop.
    func check() {
        let start = state.withLock { state in
            guard !state.running else { return false }
            state.running = true
            return true
        }
        guard start else { return }
        defer { state.withLock { $0.running = false } }
        let check: DeadWorkerCheck
        do {
            check = try finder.check(markedDead: source.markedDeadPids)
        } catch {
            logger.debug("auto mark-dead: cannot list the metric directory", metadata: ["error": "\(error)"])
            return
        }
        action.metrics.autoMarkDead.count(check: check)
        reportVisibility(check)
        reportSightingsProblem(check.sightingsProblem)
        for (pid, reason) in check.dead {
            _ = try? action.markDead(pid: pid, origin: .automatic(reason))  // failures are counted and logged there
        }
        if logger.logLevel <= .debug {
            let skipped = check.decisions.compactMap { decision -> String? in
                if case .skipped(let reason) = decision.verdict { return "\(decision.pid):\(reason.rawValue)" }
                return nil
            }
            logger.debug("auto mark-dead check", metadata: [
                "pids": "\(check.decisions.count)", "dead": "\(check.dead.count)", "skipped": "\(skipped.joined(separator: ","))",
                "duration_seconds": "\(check.duration)",
            ])
        }
    }

    /// Logs once when the app's processes stop or start being visible: a warning when live
    /// gauges are left served for it (pids never seen written from here), a note otherwise (the
    /// app stopped: the pids seen are marked as their writers are gone).
    private func reportVisibility(_ check: DeadWorkerCheck) {
        guard let visible = check.pidsVisible else { return }
        let previous = state.withLock { state in
            defer { state.visible = visible }
            return state.visible
        }
        guard visible != previous else { return }
        let unseen = check.unseenWithLiveGauges
        if !visible && unseen > 0 {
            let why = check.directoryInUse
                ? "the directory is in use (live gauge files or recent changes), so the app probably runs in another pid namespace"
                : "the app may have stopped, or run in another pid namespace"
            logger.warning("auto mark-dead: none of the pids with metric files is seen running as their writer from here; marking only pids seen written from here before, until a writer is seen. Run the exporter where it sees the app's processes: on the same host, in the same pod with shareProcessNamespace: true, and under systemd with ProtectProc=default (not invisible or noaccess) and without ProcSubset=pid",
                           metadata: ["pids": "\(check.decisions.count)", "never_seen_with_live_gauges": "\(unseen)", "why": "\(why)"])
        } else if !visible {
            logger.info("auto mark-dead: no writer of the app runs any more; its pids, all seen written from here, are marked dead as their writers are gone",
                        metadata: ["pids": "\(check.decisions.count)"])
        } else if previous == false {
            logger.info("auto mark-dead: the app's processes are visible again")
        }
    }

    /// Logs a problem writing the sightings record once (a restarted exporter then waits to see
    /// the app's writers again before marking pids of a stopped app).
    private func reportSightingsProblem(_ problem: String?) {
        let previous = state.withLock { state in
            defer { state.sightingsProblem = problem }
            return state.sightingsProblem
        }
        guard let problem, problem != previous else { return }
        logger.warning("auto mark-dead: cannot keep the writers seen for the next start; they are kept in memory",
                       metadata: ["err": "\(problem)"])
    }
}
