import MultiprocCollector
import MultiprocSupport

/// What compaction passes did: the `multiproc_exporter_compaction_*` families (present only
/// when `--compaction` is on).
final class CompactionMetrics: Sendable {
    private struct Totals {
        var passes = 0
        var passesWithErrors = 0
        var passesWiped = 0
        var pidsFolded = 0
        var filesFolded = 0
        var bytesFolded = 0
        var pidsRevived = 0
        var seriesRaised = 0
        var recoveries: [CompactionReport.Recovery: Int] = [:]
        var lastDuration = 0.0
        var pidsWaiting = 0
        var pidsDeferred = 0
        var lastHeldBytes = 0
    }

    private let totals = Locked(Totals())

    func count(_ report: CompactionReport) {
        totals.withLock { t in
            t.passes += 1
            if !report.errors.isEmpty { t.passesWithErrors += 1 }
            t.passesWiped += report.passesWiped.count
            t.pidsFolded += report.pidsFolded.count
            t.filesFolded += report.filesFolded
            t.bytesFolded += report.bytesFolded
            t.pidsRevived += report.pidsRevived.count
            t.seriesRaised += report.seriesRaised
            if let recovered = report.recovered { t.recoveries[recovered, default: 0] += 1 }
            t.lastDuration = report.duration
            t.pidsWaiting = report.pidsWaiting
            t.pidsDeferred = report.pidsDeferred
            t.lastHeldBytes = report.heldBytes
        }
    }

    func families(prefix: String) -> [MetricFamily] {
        let t = totals.withLock { $0 }
        let name = prefix + "compaction_"
        func counter(_ suffix: String, _ help: String, _ value: Int) -> MetricFamily {
            MetricFamily(name: name + suffix, type: .counter, help: help,
                         samples: [Sample(name: name + suffix + "_total", labels: [], value: Double(value))])
        }
        func gauge(_ suffix: String, _ help: String, _ value: Double) -> MetricFamily {
            MetricFamily(name: name + suffix, type: .gauge, help: help, samples: [Sample(name: name + suffix, labels: [], value: value)])
        }
        return [
            counter("bytes_folded", "Bytes of dead workers' files folded into archives (the directory no longer holds them).", t.bytesFolded),
            counter("errors", "Compaction passes that reported an error (see the log); what they concern was left as it was.", t.passesWithErrors),
            counter("files_folded", "Dead workers' files folded into archives.", t.filesFolded),
            gauge("last_pass_duration_seconds", "Duration of the last compaction pass.", t.lastDuration),
            gauge("last_pass_held_bytes", "About the most memory the last compaction pass held at once for new archive content "
                  + "(one archive, its image and one file; 0 when it built none).", Double(t.lastHeldBytes)),
            counter("passes", "Compaction passes run.", t.passes),
            counter("passes_wiped", "Compaction passes that found the directory wiped by the app under them: what they held of it was deleted too.",
                    t.passesWiped),
            counter("pids_folded", "Dead pids whose files were folded into archives.", t.pidsFolded),
            counter("pids_revived", "Pids marked dead whose files changed (a new worker reused the pid): read normally again.", t.pidsRevived),
            gauge("pids_deferred", "Dead pids due but left for the next pass by --compaction.max-pids-per-pass.", Double(t.pidsDeferred)),
            gauge("pids_waiting", "Dead pids whose files wait for --compaction.delay before they are folded.", Double(t.pidsWaiting)),
            MetricFamily(name: name + "recoveries", type: .counter,
                         help: "Interrupted compaction passes settled at a pass or at start, by outcome.",
                         samples: [CompactionReport.Recovery.rolledBack, .rolledForward].map {
                             Sample(name: name + "recoveries_total", labels: [Label(name: "outcome", value: $0.rawValue)],
                                    value: Double(t.recoveries[$0] ?? 0))
                         }),
            counter("series_raised", "Counter series whose archive entry was raised a few ulps so they would not go down.", t.seriesRaised),
        ]
    }
}
