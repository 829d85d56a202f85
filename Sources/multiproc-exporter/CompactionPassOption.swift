import ArgumentParser
import ExporterHTTP
import MultiprocCollector

/// What one compaction pass may do, shared by `serve --compaction` and `compact`.
struct CompactionPassOption: ParsableArguments {
    @Option(name: .customLong("compaction.max-pids-per-pass"),
            help: "The most dead pids one compaction pass folds, oldest deaths first; the rest wait for the next pass.")
    var maxPids = DirectoryCollector.Options().maxPidsPerPass

    @Option(name: .customLong("compaction.test-pause-before-step"),
            help: ArgumentHelp("Test hook: sleep this long before each step of a compaction pass (the kill -9 tests).", visibility: .hidden))
    var testPause = "0s"

    func validate() throws {
        guard maxPids >= 1 else { throw ValidationError("--compaction.max-pids-per-pass must be at least 1") }
    }

    /// Sets the pass's limits in `options`.
    func apply(to options: inout DirectoryCollector.Options) throws(ConfigurationError) {
        options.maxPidsPerPass = maxPids
        options.compactionStepPause = try DurationParser.seconds(testPause)
    }
}
