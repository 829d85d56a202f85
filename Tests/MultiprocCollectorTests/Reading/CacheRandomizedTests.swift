import Foundation
import Testing
import TestSupport
@testable import MultiprocCollector

/// Drives a real directory through thousands of random changes and checks after every step
/// that the cached collector says exactly what a cold read says — and, at checkpoints, what
/// prometheus_client itself says about the same directory.
///
/// Reproduce a failure with `CACHE_FUZZ_SEED=<seed printed in the failure> swift test --filter CacheRandomized`:
/// every choice is drawn from the seed, never from the order of a `Set` or `Dictionary`
/// (which differs from run to run).
@Suite struct CacheRandomizedTests {

    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let steps = Int(ProcessInfo.processInfo.environment["CACHE_FUZZ_STEPS"] ?? "") ?? 1500
    static let pythonEvery = 300

    @Test func cachedEqualsColdThroughRandomChanges() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["CACHE_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(state: seed)
        let dir = TemporaryDirectory()
        // Half the runs load values on two threads even for this small directory; a third learn
        // of rewritten files without inotify (the fallback when its instances are used up).
        let collector = try DirectoryCollector(directory: dir.path, parallelLoadThreshold: seed % 2 == 0 ? 0 : .max,
                                               changeDetection: seed % 3 == 0 ? .sizeComparison : .inotify)
        var world = World(root: dir.path) { pid in _ = try? collector.markDead(pid: pid) }
        let python = PythonReference.requireAvailable()
        var pythonChecks = 0
        var foldedScrapes = 0

        var truncatedScrapes = 0
        for step in 1...Self.steps {
            var action = world.randomAction(using: &rng)
            // Python chokes on a truncated file: before its checkpoints, the truncated files
            // are written again (the step the randomized actions take sooner or later anyway).
            if python, step % Self.pythonEvery == 0 { action += "; " + world.rewriteTruncated() }
            if !world.truncated.isEmpty { truncatedScrapes += 1 }
            let warm = collector.collect()
            // One read: no inotify instance of its own (the user's instances are few and shared
            // with every test running alongside).
            let cold = try DirectoryCollector(directory: dir.path, changeDetection: .none).collect()
            let warmText = warm.text
            if warm.statistics.filesFrozen > 0 { foldedScrapes += 1 }
            guard warmText == cold.text, warm.problems.map(\.reason) == cold.problems.map(\.reason) else {
                Issue.record("seed \(seed) step \(step) after \(action): cached output differs from a cold read\n--- cached\n\(warmText)\n--- cold\n\(cold.text)")
                return
            }
            if python, step % Self.pythonEvery == 0 {
                let reference = try PythonReference.body(directory: dir.path)
                #expect(sortedLines(warmText) == sortedLines(reference), "seed \(seed) step \(step): differs from prometheus_client")
                pythonChecks += 1
            }
        }
        if python { #expect(pythonChecks > 0) }
        // The dead-pid fold must have been exercised, not just the plain merge, and so must
        // files cut short under the cache.
        #expect(foldedScrapes > Self.steps / 10, "seed \(seed): only \(foldedScrapes) scrapes had frozen files")
        #expect(truncatedScrapes > Self.steps / 20, "seed \(seed): only \(truncatedScrapes) scrapes saw truncated files")
    }

    private func sortedLines(_ text: String) -> [Substring] {
        text.split(separator: "\n", omittingEmptySubsequences: false).sorted()
    }

    /// The directory and its writers, as the test knows them.
    struct World {
        /// Writes every truncated file again; returns what it did.
        mutating func rewriteTruncated() -> String {
            var rng = SplitMix64(state: UInt64(truncated.count))
            let names = truncated.sorted()
            for name in names { _ = rewrite(name, using: &rng) }
            return names.isEmpty ? "nothing truncated" : "rewrote \(names.joined(separator: ", "))"
        }

        /// Starts `name` over in place (same inode) with a few fresh values: its pid is alive.
        mutating func rewrite(_ name: String, using rng: inout SplitMix64) -> String {
            let w = DBWriter(path: "\(root)/\(name)")
            writers[name] = w
            truncated.remove(name)
            if let pid = Int(name.split(separator: "_").last!.dropLast(3)) {
                dead.remove(pid)
                live.insert(pid)
            }
            let isGauge = name.hasPrefix("gauge_")
            let metric = isGauge ? "g_" + name.split(separator: "_").prefix(2).joined(separator: "_") : "rewritten"
            for i in 0..<Int.random(in: 1...4, using: &rng) {
                w.set(DBWriter.key(metric: metric, sample: isGauge ? metric : metric + "_total", labels: ["i": "\(i)"]),
                      Double(Int.random(in: 0...9, using: &rng)), timestamp: 1)
            }
            return "rewrite \(name) in place"
        }

        let root: String
        /// Marks a pid dead through the collector, as the exporter's HTTP route does.
        let markDeadThroughCollector: (Int) -> Void
        var writers: [String: DBWriter] = [:]
        var nextPid = 100
        var live: Set<Int> = []
        var dead: Set<Int> = []
        /// Files cut short and not written again yet.
        var truncated: Set<String> = []

        init(root: String, markDead: @escaping (Int) -> Void) {
            self.root = root
            markDeadThroughCollector = markDead
        }

        static let routes = (0..<16).map { "/r\($0)" }
        static let fileKinds = ["counter", "histogram", "gauge_all", "gauge_livesum", "gauge_max", "gauge_mostrecent", "gauge_liveall", "summary"]

        mutating func writer(_ kind: String, _ pid: Int) -> DBWriter {
            let name = "\(kind)_\(pid).db"
            if let w = writers[name] { return w }
            let w = DBWriter(path: "\(root)/\(name)")
            writers[name] = w
            return w
        }

        mutating func randomAction(using rng: inout SplitMix64) -> String {
            let roll = Int.random(in: 0..<100, using: &rng)
            if live.isEmpty || roll < 6 {
                let pid = nextPid
                nextPid += 1
                live.insert(pid)
                return "new pid \(pid)"
            }
            let pid = live.sorted().randomElement(using: &rng)!
            switch roll {
            case 52..<56:
                // A file cut short under the cache (truncate, `> file`, a wipe reusing the
                // inode): to nothing, below its header, or below its first page. Files of dead
                // pids first: theirs are frozen, and their pages are only watched.
                let deadFiles = writers.keys.filter { name in dead.contains { name.hasSuffix("_\($0).db") } }
                guard let name = (deadFiles.isEmpty ? Array(writers.keys) : deadFiles).sorted().randomElement(using: &rng) else {
                    return "nothing to truncate"
                }
                let size = [0, 4, 4096].randomElement(using: &rng)!
                truncate("\(root)/\(name)", off_t(size))
                writers[name] = nil
                truncated.insert(name)
                return "truncate \(name) to \(size)"
            case 56..<60:
                // A truncated file written again in place (same inode), or any file started
                // over in place: a new worker with that pid.
                let name = truncated.sorted().randomElement(using: &rng) ?? writers.keys.sorted().randomElement(using: &rng)
                guard let name else { return "nothing to rewrite" }
                return rewrite(name, using: &rng)
            case 6..<52:
                // A burst of observations from one worker: values in place, sometimes new series.
                let kind = World.fileKinds.randomElement(using: &rng)!
                let w = writer(kind, pid)
                let routeCount = Int.random(in: 1...World.routes.count, using: &rng)
                for _ in 0..<Int.random(in: 1...30, using: &rng) {
                    let route = World.routes[Int.random(in: 0..<routeCount, using: &rng)]
                    let value = Bool.random(using: &rng) ? Double(Int.random(in: 0...1000, using: &rng)) : Double.random(in: -1e6...1e6, using: &rng)
                    switch kind {
                    case "histogram":
                        // NaN bounds are rare but legal (and order-sensitive in Python).
                        let le = ["0.1", "1.0", "1", "10.0", "+Inf", "NaN"].randomElement(using: &rng)!
                        w.set(DBWriter.key(metric: "lat", sample: "lat_bucket", labels: ["route": route, "le": le], help: "Latency."), value.magnitude.rounded())
                        w.set(DBWriter.key(metric: "lat", sample: "lat_sum", labels: ["route": route], help: "Latency."), value)
                    case "summary":
                        w.set(DBWriter.key(metric: "sz", sample: "sz_count", labels: ["route": route]), value.magnitude.rounded())
                        w.set(DBWriter.key(metric: "sz", sample: "sz_sum", labels: ["route": route]), value)
                    case "counter":
                        w.set(DBWriter.key(metric: "req", sample: "req_total", labels: ["route": route], help: "Requests."), value.magnitude)
                    default:
                        let metric = "g_" + kind
                        w.set(DBWriter.key(metric: metric, sample: metric, labels: ["route": route]), value,
                              timestamp: Double(Int.random(in: 0...5, using: &rng)))
                    }
                    // Now and then a metric that files disagree on: another help text, or the
                    // same name under another type or gauge mode (a deploy that changed it).
                    if Int.random(in: 0..<50, using: &rng) == 0 {
                        let help = ["Requests.", "Requests (v2)."].randomElement(using: &rng)!
                        w.set(DBWriter.key(metric: "shared", sample: kind == "counter" ? "shared_total" : "shared",
                                           labels: ["route": route], help: help), value.magnitude.rounded())
                    }
                }
                return "write \(kind) pid \(pid)"
            case 60..<68:
                // Grow one file past 64 KiB (once per file: the directory stays small enough
                // for a cold read at every step).
                let w = writer("counter", pid)
                guard w.capacity == 1 << 16 else { return "already grown" }
                let base = 1000 * Int.random(in: 0...2, using: &rng)
                for i in 0..<Int.random(in: 300...700, using: &rng) {
                    w.set(DBWriter.key(metric: "big", sample: "big_total", labels: ["k": "\(base + i)"], help: String(repeating: "h", count: 40)), Double(i))
                }
                return "grow pid \(pid)"
            case 68..<80:
                // Mark dead: live gauge files go, the rest stays. Through the collector (its
                // files are then folded) or as Python's mark_process_dead fallback does.
                live.remove(pid)
                dead.insert(pid)
                let viaCollector = Bool.random(using: &rng)
                if viaCollector { markDeadThroughCollector(pid) }
                for mode in GaugeMode.liveModes {
                    let name = "gauge_\(mode.rawValue)_\(pid).db"
                    if !viaCollector { unlink("\(root)/\(name)") }
                    writers[name] = nil
                }
                return "mark dead \(pid)\(viaCollector ? " via the collector" : "")"
            case 92..<95:
                // A new worker reuses a dead pid: it shows itself (a live gauge, or a new series)
                // and then updates existing series in place; later it dies again.
                guard let reused = dead.sorted().randomElement(using: &rng) else { return "no dead pid to reuse" }
                dead.remove(reused)
                live.insert(reused)
                if Bool.random(using: &rng) {
                    writer("gauge_livesum", reused).set(DBWriter.key(metric: "g_gauge_livesum", sample: "g_gauge_livesum", labels: ["route": "/r0"]), 1)
                } else {
                    // A series this pid never had (a reused pid that only updates old series in
                    // place, with no live gauge, is not noticed until it is marked dead again).
                    nextPid += 1
                    writer("counter", reused).set(DBWriter.key(metric: "req", sample: "req_total", labels: ["route": "/reused\(nextPid)"], help: "Requests."), 1)
                }
                for (name, w) in writers.sorted(by: { $0.key < $1.key }) where name.hasSuffix("_\(reused).db") {
                    for key in w.positions.keys.sorted().shuffled(using: &rng).prefix(3) { w.set(key, Double(Int.random(in: 0...99, using: &rng))) }
                }
                return "reuse pid \(reused)"
            case 80..<88:
                // A non-live file disappears.
                guard let name = (Array(writers.keys) + truncated).sorted().randomElement(using: &rng) else { return "nothing to remove" }
                unlink("\(root)/\(name)")
                writers[name] = nil
                truncated.remove(name)
                return "remove \(name)"
            case 88..<92:
                // The whole directory is wiped and the same names are written again (a restart).
                let names = writers.keys.sorted()
                for name in names + truncated.sorted() { unlink("\(root)/\(name)") }
                writers = [:]
                truncated = []
                for name in names.prefix(4) {
                    let w = DBWriter(path: "\(root)/\(name)")
                    writers[name] = w
                    // The worker writing it now is alive, whatever its pid did before.
                    if let pid = Int(name.split(separator: "_").last!.dropLast(3)) {
                        dead.remove(pid)
                        live.insert(pid)
                    }
                    w.set(DBWriter.key(metric: "restarted", sample: "restarted_total"), Double(Int.random(in: 0...9, using: &rng)))
                }
                return "wipe and recreate"
            default:
                // Values change in place without new entries (only live workers write).
                let liveWriters = writers.filter { name, _ in live.contains { name.hasSuffix("_\($0).db") } }.sorted { $0.key < $1.key }.map(\.value)
                for w in liveWriters.shuffled(using: &rng).prefix(3) {
                    for key in w.positions.keys.sorted().shuffled(using: &rng).prefix(5) { w.set(key, Double(Int.random(in: 0...99, using: &rng))) }
                }
                return "update in place"
            }
        }
    }
}
