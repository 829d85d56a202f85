import Dispatch

/// Loads the values of many files, on two threads when there is enough to load.
///
/// A warm scrape is mostly waiting for memory: one cache miss per value, each in a different
/// cache line. The loads of different files are independent, so a second core halves the
/// wait. Small directories are loaded inline, where a thread handoff would cost more.
enum ValueLoader {
    /// Below this many entries in total, loading stays on the calling thread.
    static let parallelThreshold = 50_000

    /// Loads every file's values; returns, per file, the problem that excludes it (or nil).
    static func load(_ files: [TrackedFile], parallelThreshold: Int = parallelThreshold) -> [FileProblem?] {
        let total = files.reduce(0) { $0 + $1.valueCount }
        guard total >= parallelThreshold, files.count > 1 else { return files.map { $0.loadValues() } }
        // Two lanes balanced by entry count, each lane's files contiguous.
        var split = 0
        var running = 0
        while split < files.count, running < total / 2 {
            running += files[split].valueCount
            split += 1
        }
        let lanes = [0..<split, split..<files.count]
        let work = Work(files: files)
        DispatchQueue.concurrentPerform(iterations: lanes.count) { lane in work.load(lanes[lane]) }
        return Array(work.results)
    }

    /// The lanes' shared state: each lane writes only its own range of `results`.
    private final class Work: @unchecked Sendable {
        let files: [TrackedFile]
        let results: UnsafeMutableBufferPointer<FileProblem?>

        init(files: [TrackedFile]) {
            self.files = files
            results = .allocate(capacity: files.count)
            results.initialize(repeating: nil)
        }

        deinit {
            results.deinitialize()  // problems hold strings
            results.deallocate()
        }

        func load(_ range: Range<Int>) {
            for i in range { results[i] = files[i].loadValues() }
        }
    }
}
