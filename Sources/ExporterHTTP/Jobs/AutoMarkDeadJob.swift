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

    /// Logs once when the app's processes stop or start being visible.
    private func reportVisibility(_ check: DeadWorkerCheck) {
        guard let visible = check.pidsVisible else { return }
        let previous = state.withLock { state in
            defer { state.visible = visible }
            return state.visible
        }
        guard visible != previous else { return }
        if !visible {
            let why = check.directoryInUse
                ? "the directory is in use (live gauge files or recent changes), so the app probably runs in another pid namespace"
                : "the app may have stopped, or run in another pid namespace"
            logger.warning("auto mark-dead: none of the pids with metric files is seen running as their writer from here; marking nothing until one is. Run the exporter where it sees the app's processes: on the same host, in the same pod with shareProcessNamespace: true, and under systemd with ProtectProc=default (not invisible or noaccess) and without ProcSubset=pid",
                           metadata: ["pids": "\(check.decisions.count)", "why": "\(why)"])
        } else if previous == false {
            logger.info("auto mark-dead: the app's processes are visible again")
        }
    }
}
