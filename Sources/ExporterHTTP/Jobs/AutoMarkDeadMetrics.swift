import MultiprocCollector
import MultiprocSupport

/// The counters of auto mark-dead and the `multiproc_exporter_auto_mark_dead_*` families
/// built from them, served only while `--auto-mark-dead` is on. Every `reason` series exists
/// from the start, at 0.
final class AutoMarkDeadMetrics: Sendable {
    private struct Counts {
        var enabled = false
        var checks = 0
        var pidsChecked = 0
        var marked: [PidVerdict.DeathReason: Int] = [:]
        var skipped: [PidVerdict.SkipReason: Int] = [:]
        /// 1 while the app's pids are visible (also before the first check that needed them).
        var visible = true
        var remembered = 0
        var lastDuration = 0.0
    }

    private let counts = Locked(Counts())

    /// Turns the families on (the scheduler does, when it starts).
    func enable() { counts.withLock { $0.enabled = true } }

    /// Counts one check and its verdicts (not the marks: ``count(marked:)`` follows each one).
    func count(check: DeadWorkerCheck) {
        counts.withLock { counts in
            counts.checks += 1
            counts.pidsChecked += check.decisions.count
            counts.lastDuration = check.duration
            if let visible = check.pidsVisible { counts.visible = visible }
            counts.remembered = check.remembered
            for decision in check.decisions {
                if case .skipped(let reason) = decision.verdict { counts.skipped[reason, default: 0] += 1 }
            }
            counts.skipped[.notAPid, default: 0] += check.notPids.count
        }
    }

    func count(marked reason: PidVerdict.DeathReason) { counts.withLock { $0.marked[reason, default: 0] += 1 } }
    func count(skipped reason: PidVerdict.SkipReason) { counts.withLock { $0.skipped[reason, default: 0] += 1 } }

    func marked(_ reason: PidVerdict.DeathReason) -> Int { counts.withLock { $0.marked[reason] ?? 0 } }
    func skipped(_ reason: PidVerdict.SkipReason) -> Int { counts.withLock { $0.skipped[reason] ?? 0 } }

    /// The families, empty unless enabled.
    func families() -> [MetricFamily] {
        let counts = counts.withLock { $0 }
        guard counts.enabled else { return [] }
        let prefix = "multiproc_exporter_auto_mark_dead_"
        func counter(_ name: String, _ help: String, _ samples: [(labels: [Label], value: Int)]) -> MetricFamily {
            MetricFamily(name: prefix + name, type: .counter, help: help,
                         samples: samples.map { Sample(name: prefix + name + "_total", labels: $0.labels, value: Double($0.value)) })
        }
        func gauge(_ name: String, _ help: String, _ value: Double) -> MetricFamily {
            MetricFamily(name: prefix + name, type: .gauge, help: help, samples: [Sample(name: prefix + name, labels: [], value: value)])
        }
        func reason(_ value: String) -> [Label] { [Label(name: "reason", value: value)] }
        return [
            counter("checks", "Checks of the metric directory's pids against /proc.", [([], counts.checks)]),
            gauge("check_duration_seconds", "Duration of the last check (list, /proc reads, decisions).", counts.lastDuration),
            counter("pids_checked", "Pids with metric files looked at, summed over checks.", [([], counts.pidsChecked)]),
            counter("pids_marked", "Pids found dead and marked dead, by why their writer is known to be gone.",
                    PidVerdict.DeathReason.allCases.map { (reason($0.rawValue), counts.marked[$0] ?? 0) }),
            counter("pids_skipped", "Pids not marked dead though they looked dead or could not be decided, by reason, summed over checks.",
                    PidVerdict.SkipReason.allCases.map { (reason($0.rawValue), counts.skipped[$0] ?? 0) }),
            gauge("pids_visible", "1 when the app's processes are visible from this exporter's pid namespace; 0 when they are not, and only pids seen written from here before are marked dead.",
                  counts.visible ? 1 : 0),
            gauge("pids_remembered", "Pids whose files were seen written by a process of this pid namespace: marked dead when it is gone, even while no writer is visible.",
                  Double(counts.remembered)),
        ]
    }
}
