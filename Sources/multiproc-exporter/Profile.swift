import ArgumentParser
import MultiprocCollector

/// Times scrapes in-process, without HTTP: what `make bench` and profiling use to see the
/// collector alone. Hidden from the main help.
struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Time repeated scrapes of a directory in-process (for benchmarks and profiling).",
        shouldDisplay: false)

    @OptionGroup var directory: DirectoryOption

    @OptionGroup var textfiles: TextfileOption

    @Option(help: "Scrapes to time after the first (cold) one.")
    var iterations = 100

    @Option(help: "Accept header for rendering.")
    var accept: String?

    @Option(help: ArgumentHelp("After the cold scrape, mark dead every pid but the N highest (removes their live gauge files!).",
                               valueName: "n"))
    var markDeadAllBut: Int?

    func run() throws {
        try reportingFailures {
            let collector = try directory.collector(options: textfiles.options())
            let format = ExpositionFormat.negotiate(accept: accept)
            var times: [Double] = []
            var bytes = 0
            for i in 0...iterations {
                let started = ContinuousClock.now
                let snapshot = collector.collect()
                let body = snapshot.body(format)
                let elapsed = ContinuousClock.now - started
                bytes = body.count
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                if i == 0 {
                    print("cold_seconds \(seconds) files_parsed \(snapshot.statistics.filesParsed) entries \(snapshot.statistics.entries)")
                    if let keep = markDeadAllBut {
                        let pids = Set(collector.inspect().files.compactMap { Int($0.file.pid) }).sorted()
                        for pid in pids.dropLast(keep) { _ = try? collector.markDead(pid: pid) }
                        _ = collector.collect()  // reads the dead pids' files a last time, then folds them
                        print("marked_dead \(max(0, pids.count - keep)) pids")
                    }
                } else {
                    times.append(seconds)
                }
            }
            times.sort()
            guard !times.isEmpty else { return }
            func percentile(_ p: Double) -> Double { times[min(times.count - 1, Int(Double(times.count) * p))] }
            print("warm_median_seconds \(percentile(0.5)) p90 \(percentile(0.9)) min \(times[0]) body_bytes \(bytes)")
            let last = collector.collect().statistics
            print("files_read \(last.filesRead) files_frozen \(last.filesFrozen)")
        }
    }
}
