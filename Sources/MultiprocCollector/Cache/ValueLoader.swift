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
        let lanes = total >= parallelThreshold ? 2 : 1
        if lanes == 1 { return files.map { $0.loadValues() } }
        let results = UnsafeMutableBufferPointer<FileProblem?>.allocate(capacity: files.count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        // Balance the lanes by entry count, keeping each lane's files contiguous.
        var boundaries = [0]
        var running = 0
        for (i, file) in files.enumerated() {
            running += file.valueCount
            if boundaries.count < lanes, running >= total * boundaries.count / lanes { boundaries.append(i + 1) }
        }
        while boundaries.count <= lanes { boundaries.append(files.count) }
        boundaries[lanes] = files.count
        let shared = SharedLoad(files: files, results: results, boundaries: boundaries)
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            for i in shared.boundaries[lane]..<shared.boundaries[lane + 1] {
                shared.results[i] = shared.files[i].loadValues()
            }
        }
        return Array(results)
    }

    /// Each lane touches only its own files and its own slots of `results`.
    private struct SharedLoad: @unchecked Sendable {
        let files: [TrackedFile]
        let results: UnsafeMutableBufferPointer<FileProblem?>
        let boundaries: [Int]
    }
}
