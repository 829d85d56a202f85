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
    /// What compaction left in the directory; nil when it was never compacted.
    public var compaction: CompactionStatus?
    /// With a textfile directory (``DirectoryCollector/Options/textfileDirectory``): what a
    /// scrape would serve of it and leave out, beside these files; nil without one.
    public var textfiles: TextfileReport?

    /// The archives and the journal of a compacted directory.
    public struct CompactionStatus: Sendable {
        /// Archive files (pid `0`): what folded dead workers left.
        public var archives: [String]
        /// Pids the journal lists as dead and not folded yet.
        public var deadPids: [String]
        /// A pass a crash interrupted (`serve` or `compact` settles it), if any.
        public var interruptedPass: Int?
        /// The journal could not be read (the reason), if so.
        public var journalError: String?
    }

    public var pids: Int { Set(files.map(\.file.pid)).count }
    public var entries: Int { files.reduce(0) { $0 + $1.entries } }
    public var bytesUsed: Int { files.reduce(0) { $0 + $1.bytesUsed } }
    public var hasProblems: Bool {
        !directoryProblems.isEmpty || files.contains { !$0.isOK } || compaction?.interruptedPass != nil || compaction?.journalError != nil
    }
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
        report.textfiles = textfiles?.collect(besides: snapshot.plan)
        if let dir = try? MetricDirectory(path: directory) {
            report.ignoredNames = dir.otherNames()
            report.compaction = Self.compactionStatus(files: report.files, ignored: report.ignoredNames, directory: dir.descriptor)
        }
        return report
    }

    private static func compactionStatus(files: [DirectoryReport.FileStatus], ignored: [String], directory: Int32) -> DirectoryReport.CompactionStatus? {
        let archives = files.map(\.name).filter { MetricFileName($0)?.pid == ArchiveContent.pid }.sorted()
        guard !archives.isEmpty || ignored.contains(CompactionJournal.fileName) else { return nil }
        var status = DirectoryReport.CompactionStatus(archives: archives, deadPids: [], interruptedPass: nil, journalError: nil)
        do {
            let ledger = CompactionLedger(try CompactionJournal(directory: directory).load().records)
            status.deadPids = ledger.dead.keys.sorted()
            status.interruptedPass = ledger.unsettled.keys.min()
        } catch {
            status.journalError = error.description
        }
        return status
    }
}
