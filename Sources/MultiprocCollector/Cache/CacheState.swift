// MARK: - The cache behind MultiprocCollector

/// Everything kept between scrapes. Only touched under the collector's lock.
struct CacheState: ~Copyable {
    private var keys = KeyTable()
    private var files: [String: TrackedFile] = [:]
    private var builder = PlanBuilder()
    /// The files (identity and generation) the plan was built from, in merge order.
    private var planSignature: [PlanInput] = []
    /// Problems reported before, so each is reported once while it lasts.
    private var reported: Set<FileProblem> = []
    /// Metric files of the last listing, with their state when they were merged.
    private(set) var lastListing: [(name: String, file: MetricFileName, merged: TrackedFile?)] = []

    private struct PlanInput: Equatable {
        var file: ObjectIdentifier
        var generation: Int
    }

    /// Entries from which values load on two threads (lowered by tests to exercise that path).
    let parallelLoadThreshold: Int

    init(parallelLoadThreshold: Int = ValueLoader.parallelThreshold) {
        self.parallelLoadThreshold = parallelLoadThreshold
    }

    /// Brings every file up to date and merges them.
    mutating func refresh(path: String) -> Snapshot {
        var statistics = ScrapeStatistics()
        var problems: [FileProblem] = []
        var merged: [TrackedFile] = []
        lastListing = []

        do {
            let directory = try MetricDirectory(path: path)
            var seen: [String: TrackedFile] = [:]
            for entry in directory.metricFiles() {
                if entry.isSymlink {
                    problems.append(FileProblem(file: entry.name, reason: .symlink, detail: "is a symbolic link; not followed"))
                    lastListing.append((entry.name, entry.parsed, nil))
                    continue
                }
                let file: TrackedFile
                if let known = files[entry.name], known.listedInode == entry.inode {
                    file = known
                } else {
                    file = TrackedFile(entry: entry)
                }
                seen[entry.name] = file
                switch file.refresh(directory: directory.descriptor, keys: &keys) {
                case .ready(let parsed):
                    merged.append(file)
                    if parsed { statistics.filesParsed += 1 }
                case .excluded(let problem):
                    if let problem { problems.append(problem) }
                    lastListing.append((entry.name, entry.parsed, nil))
                }
            }
            files = seen
            let faults = ValueLoader.load(merged, parallelThreshold: parallelLoadThreshold)
            for (file, fault) in zip(merged, faults) {
                if let fault {
                    problems.append(fault)
                    lastListing.append((file.name, file.parsedName, nil))
                } else {
                    statistics.filesRead += 1
                    problems.append(contentsOf: file.problems)
                    lastListing.append((file.name, file.parsedName, file))
                }
            }
            merged = zip(merged, faults).filter { $0.1 == nil }.map(\.0)
        } catch {
            files = [:]
            problems.append(FileProblem(file: "", reason: .directoryUnreadable, detail: error.description))
        }

        // Recompile the merge only when the files or their entry lists changed.
        let signature = merged.map { PlanInput(file: ObjectIdentifier($0), generation: $0.generation) }
        if signature != planSignature {
            let outcome = builder.update(files: merged, keys: keys)
            planSignature = signature
            statistics.planRebuilt = outcome.rebuilt
            statistics.planChanged = outcome.changed
        }
        for file in merged { problems.append(contentsOf: builder.problems(of: file)) }
        let plan = builder.plan
        let slots = plan.accumulate(entrySlots: merged.map { builder.slots(of: $0) },
                                    values: merged.map(\.values), timestamps: merged.map(\.timestamps))

        var pids = Set<ExactString>()
        for file in merged {
            statistics.filesByType[file.parsedName.type, default: 0] += 1
            statistics.bytesUsed += min(file.used, file.mapping?.length ?? 0)
            statistics.entries += file.keyIDs.count
            pids.insert(ExactString(file.parsedName.pid))
        }
        statistics.pids = pids.count

        let current = Set(problems)
        let newProblems = problems.filter { !reported.contains($0) }
        reported = current
        return Snapshot(plan: plan, slots: slots, problems: problems, newProblems: newProblems, statistics: statistics)
    }
}
