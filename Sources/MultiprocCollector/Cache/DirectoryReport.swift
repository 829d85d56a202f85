// MARK: - A full report on a directory, for operators

/// Every metric file of a directory with its status, read from scratch: what
/// `multiproc-exporter check` prints.
public struct DirectoryReport: Sendable {

    /// One metric file.
    public struct FileStatus: Sendable {
        public var name: String
        public var file: MetricFileName
        /// `used` from the header (0 when unreadable).
        public var bytesUsed: Int
        /// Entries that take part in the merge.
        public var entries: Int
        /// The layout detected (nil when the file has no entry yet or was left out).
        public var layout: FileLayout?
        /// Empty when the file is fine.
        public var problems: [FileProblem]
        public var isOK: Bool { problems.isEmpty }
    }

    public var files: [FileStatus] = []
    /// Names in the directory that are not metric files (ignored by scrapes).
    public var ignoredNames: [String] = []
    /// Problems not tied to one file (the directory itself).
    public var directoryProblems: [FileProblem] = []

    public var pids: Int { Set(files.map { ExactString($0.file.pid) }).count }
    public var entries: Int { files.reduce(0) { $0 + $1.entries } }
    public var bytesUsed: Int { files.reduce(0) { $0 + $1.bytesUsed } }
    public var hasProblems: Bool { !directoryProblems.isEmpty || files.contains { !$0.isOK } }
}

extension DirectoryCollector {
    /// Reads the whole directory from scratch (ignoring the cache) and reports on every file.
    public func inspect() -> DirectoryReport {
        // One read: nothing to watch for between scrapes.
        var options = DirectoryCollector.Options()
        options.changeDetection = .none
        var cache = CacheState(options: options)
        let snapshot = cache.refresh(path: directory)
        var report = DirectoryReport()
        var problemsByFile: [String: [FileProblem]] = [:]
        for problem in snapshot.problems {
            if problem.file.isEmpty { report.directoryProblems.append(problem) } else {
                problemsByFile[problem.file, default: []].append(problem)
            }
        }
        for listed in cache.lastListing {
            report.files.append(DirectoryReport.FileStatus(
                name: listed.name, file: listed.parsed, bytesUsed: listed.merged?.used ?? 0,
                entries: listed.merged?.keyIDs.count ?? 0, layout: listed.merged?.layout,
                problems: problemsByFile[listed.name] ?? []))
        }
        if let dir = try? MetricDirectory(path: directory) { report.ignoredNames = dir.otherNames() }
        return report
    }
}
