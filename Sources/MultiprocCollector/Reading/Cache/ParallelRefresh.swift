import Dispatch

// MARK: - Mapping and parsing many new files on two threads

/// Brings files up to date (mapping, parsing new entries) on two threads when many are new:
/// a cold start, or a directory full of new workers. Parsing is dominated by hashing keys and
/// decoding new ones, which two cores halve.
///
/// Each lane parses into a ``KeyTable`` of its own; afterwards the lanes' tables are adopted
/// into the collector's table and every file's key ids are mapped into it. Lanes take files
/// interleaved (consecutive files tend to be alike in size) and touch only their own files,
/// result slots and key table.
enum ParallelRefresh {
    /// Files not yet mapped from which the refresh runs on two threads.
    static let threshold = 32
    static let lanes = 2

    /// Refreshes `files`; returns their results in order. `parallel`: whether to use the
    /// lanes at all (tests force both paths).
    static func refresh(_ files: [TrackedFile], directory: Int32, keys: inout KeyTable, parallel: Bool) -> [TrackedFile.RefreshResult] {
        guard parallel else { return files.map { $0.refresh(directory: directory, keys: &keys) } }
        let work = Work(files: files, directory: directory)
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in work.run(lane: lane) }
        for lane in 0..<lanes {
            let newIDs = keys.adopt(work.tables[lane])
            for i in stride(from: lane, to: files.count, by: lanes) { files[i].adoptKeys(newIDs) }
        }
        return Array(work.results)
    }

    /// The lanes' shared state: each lane writes only its own indices and its own table.
    private final class Work: @unchecked Sendable {
        let files: [TrackedFile]
        let directory: Int32
        let results: UnsafeMutableBufferPointer<TrackedFile.RefreshResult>
        let tables: UnsafeMutableBufferPointer<KeyTable>

        init(files: [TrackedFile], directory: Int32) {
            self.files = files
            self.directory = directory
            results = .allocate(capacity: files.count)
            results.initialize(repeating: .excluded(nil))
            tables = .allocate(capacity: ParallelRefresh.lanes)
            tables.initialize(repeating: KeyTable())
        }

        deinit {
            // Results hold problems (strings) and tables hold keys: deinitialize, then free.
            results.deinitialize()
            results.deallocate()
            tables.deinitialize()
            tables.deallocate()
        }

        func run(lane: Int) {
            for i in stride(from: lane, to: files.count, by: ParallelRefresh.lanes) {
                results[i] = files[i].refreshWithLocalKeys(directory: directory, keys: &tables[lane])
            }
        }
    }
}
