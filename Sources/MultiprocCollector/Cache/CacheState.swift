import Dispatch

// MARK: - The cache behind DirectoryCollector

/// Everything kept between scrapes. Only touched under the collector's lock.
struct CacheState: ~Copyable {
    private var keys = KeyTable()
    private var files: [String: TrackedFile] = [:]
    private var builder = PlanBuilder()
    /// The files (identity and generation) the plan was built from, in merge order.
    private var planSignature: [PlanInput] = []
    /// Pids marked dead through ``DirectoryCollector/markDead(pid:)``: their non-live files
    /// are read one last time, then frozen.
    private var deadPids: Set<ExactString> = []
    private var fold: DeadFold?
    /// Slots fed by live files since the fold was last brought up to date, and whether the
    /// plan was rebuilt (renumbered) meanwhile: what the fold needs to carry itself over.
    private var fedSinceFold: [Int32] = []
    private var rebuiltSinceFold = false
    /// Slots found not to be exact sums after all (see ``DeadFold``), until the plan changes.
    private var forcedSequential: Set<Int32> = []
    /// The last listing and the directory version it was taken at (see ``listing(of:)``).
    private var cachedListing: (version: MetricDirectory.Version, entries: [MetricDirectory.Entry])?
    /// Problems reported before, so each is reported once while it lasts.
    private var reported: Set<FileProblem> = []
    /// Metric files of the last listing, with their state when they were merged.
    private(set) var lastListing: [(name: String, file: MetricFileName, merged: TrackedFile?)] = []

    private struct PlanInput: Equatable {
        var file: Int
        var generation: Int
    }

    /// Entries from which values load on two threads (lowered by tests to exercise that path).
    let parallelLoadThreshold: Int

    init(parallelLoadThreshold: Int = ValueLoader.parallelThreshold) {
        self.parallelLoadThreshold = parallelLoadThreshold
    }

    /// Brings every file up to date and merges them. `newlyDead` are pids marked dead since
    /// the last refresh.
    mutating func refresh(path: String, newlyDead: [String] = []) -> Snapshot {
        var statistics = ScrapeStatistics()
        var problems: [FileProblem] = []
        lastListing = []
        for pid in newlyDead {
            // Marked dead (again): whatever its files hold now is final; read them once more.
            thaw(pid: pid)
            deadPids.insert(ExactString(pid))
        }

        var merged: [TrackedFile] = []
        do {
            let directory = try MetricDirectory(path: path)
            merged = refreshFiles(in: directory, problems: &problems, statistics: &statistics)
        } catch {
            files = [:]
            cachedListing = nil
            problems.append(FileProblem(file: "", reason: .directoryUnreadable, detail: error.description))
        }

        // Recompile the merge only when the files or their entry lists changed.
        let signature = merged.map { PlanInput(file: $0.id, generation: $0.generation) }
        if signature != planSignature {
            let outcome = builder.update(files: merged, keys: keys)
            planSignature = signature
            statistics.planRebuilt = outcome.rebuilt
            statistics.planChanged = outcome.changed
            fedSinceFold += outcome.fedSlots
            if outcome.rebuilt {
                forcedSequential = []
                rebuiltSinceFold = true
            }
        }
        for file in merged { problems.append(contentsOf: builder.problems(of: file)) }
        let plan = builder.plan
        let slots = accumulate(plan: plan, files: merged)

        var pids = Set<ExactString>()
        for file in merged {
            statistics.filesByType[file.parsedName.type, default: 0] += 1
            statistics.bytesUsed += min(file.used, file.mapping?.length ?? 0)
            statistics.entries += file.keyIDs.count
            if file.frozen { statistics.filesFrozen += 1 }
            pids.insert(ExactString(file.parsedName.pid))
        }
        statistics.pids = pids.count
        freezeFilesOfDeadPids(merged)

        let current = Set(problems)
        let newProblems = problems.filter { !reported.contains($0) }
        reported = current
        return Snapshot(plan: plan, slots: slots, problems: problems, newProblems: newProblems, statistics: statistics)
    }

    // MARK: Files

    /// Lists the directory, brings each file up to date and loads values; returns the files
    /// that take part in the merge, in merge (listing) order.
    private mutating func refreshFiles(in directory: borrowing MetricDirectory, problems: inout [FileProblem],
                                       statistics: inout ScrapeStatistics) -> [TrackedFile] {
        let listing = listing(of: directory)
        thawReusedPids(listing)
        var seen: [String: TrackedFile] = [:]
        var order: [(entry: MetricDirectory.Entry, file: TrackedFile)] = []
        for entry in listing {
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
            order.append((entry, file))
        }
        files = seen

        // Map and parse what changed: on two threads when many files are new (a cold start,
        // a directory full of new workers), each with a key table of its own.
        let stale = order.map(\.file).filter { !$0.frozen }
        let results = refresh(stale, directory: directory.descriptor)
        var candidates: [TrackedFile] = []
        var toLoad: [TrackedFile] = []
        var next = 0
        for (entry, file) in order {
            if file.frozen {
                candidates.append(file)
                continue
            }
            let result = results[next]
            next += 1
            switch result {
            case .ready(let parsed):
                candidates.append(file)
                toLoad.append(file)
                if parsed { statistics.filesParsed += 1 }
            case .excluded(let problem):
                if let problem { problems.append(problem) }
                lastListing.append((entry.name, entry.parsed, nil))
            }
        }

        let faults = ValueLoader.load(toLoad, parallelThreshold: parallelLoadThreshold)
        var failed = Set<Int>()
        for (file, fault) in zip(toLoad, faults) {
            if let fault {
                problems.append(fault)
                failed.insert(file.id)
            } else {
                statistics.filesRead += 1
            }
        }
        var merged: [TrackedFile] = []
        merged.reserveCapacity(candidates.count)
        for file in candidates {
            if failed.contains(file.id) {
                lastListing.append((file.name, file.parsedName, nil))
                continue
            }
            problems.append(contentsOf: file.problems)
            lastListing.append((file.name, file.parsedName, file))
            merged.append(file)
        }
        return merged
    }

    /// The metric files of `directory`, re-read only when its mtime moved.
    ///
    /// mtimes tick with the kernel's coarse clock, so a change made in the same tick as a
    /// listing could leave the mtime unchanged. A listing is therefore reused only if it was
    /// started in a later tick than the mtime it saw (the "racy git" rule): any change after
    /// it would carry a later mtime.
    private mutating func listing(of directory: borrowing MetricDirectory) -> [MetricDirectory.Entry] {
        let version = directory.version()
        if let version, let cached = cachedListing, cached.version == version { return cached.entries }
        let started = MetricDirectory.coarseNow()
        let entries = directory.metricFiles()
        if let version, (version.mtimeSeconds, version.mtimeNanoseconds) < started {
            cachedListing = (version, entries)
        } else {
            cachedListing = nil
        }
        return entries
    }

    /// Files not yet mapped from which the refresh runs on two threads.
    static let parallelRefreshThreshold = 32

    /// Brings `files` up to date (mapping, parsing), in parallel when many are new.
    private mutating func refresh(_ files: [TrackedFile], directory: Int32) -> [TrackedFile.RefreshResult] {
        let unmapped = files.reduce(0) { $0 + ($1.mapping == nil ? 1 : 0) }
        // Tests force both paths through the load threshold: 0 = always parallel, max = never.
        let minimum = parallelLoadThreshold == 0 ? 2 : Self.parallelRefreshThreshold
        guard unmapped >= minimum, parallelLoadThreshold != .max else {
            return files.map { $0.refresh(directory: directory, keys: &keys) }
        }
        let lanes = 2
        let results = UnsafeMutableBufferPointer<TrackedFile.RefreshResult>.allocate(capacity: files.count)
        results.initialize(repeating: .excluded(nil))
        defer { results.deallocate() }
        let tables = UnsafeMutableBufferPointer<KeyTable>.allocate(capacity: lanes)
        tables.initialize(repeating: KeyTable())
        defer {
            _ = tables.deinitialize()
            tables.deallocate()
        }
        // Interleaved lanes: consecutive files tend to be alike in size.
        let shared = ParallelRefresh(files: files, results: results, tables: tables, directory: directory)
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            for i in stride(from: lane, to: shared.files.count, by: lanes) {
                shared.results[i] = shared.files[i].refreshWithLocalKeys(directory: shared.directory, keys: &shared.tables[lane])
            }
        }
        for lane in 0..<lanes {
            let mapping = keys.adopt(tables[lane])
            for i in stride(from: lane, to: files.count, by: lanes) { files[i].adoptKeys(mapping) }
        }
        return Array(results)
    }

    /// Each lane touches only its own files, result slots and key table.
    private struct ParallelRefresh: @unchecked Sendable {
        let files: [TrackedFile]
        let results: UnsafeMutableBufferPointer<TrackedFile.RefreshResult>
        let tables: UnsafeMutableBufferPointer<KeyTable>
        let directory: Int32
    }

    /// After a scrape has read them, the non-live files of dead pids are final.
    private func freezeFilesOfDeadPids(_ merged: [TrackedFile]) {
        guard !deadPids.isEmpty else { return }
        for file in merged where !file.frozen && file.parsedName.gaugeMode?.isLive != true {
            if deadPids.contains(ExactString(file.parsedName.pid)) { file.frozen = true }
        }
    }

    /// Signs that a new worker reuses a dead pid, checked before any file is read so that all
    /// of that pid's files are read this scrape: a live gauge file, a file that was not known
    /// when the pid was marked dead (new name or new inode), a frozen file whose `used` changed.
    private mutating func thawReusedPids(_ listing: [MetricDirectory.Entry]) {
        guard !deadPids.isEmpty else { return }
        var reused: [String] = []
        var frozen: [TrackedFile] = []
        for entry in listing where deadPids.contains(ExactString(entry.parsed.pid)) {
            guard let known = files[entry.name], known.listedInode == entry.inode, entry.parsed.gaugeMode?.isLive != true else {
                // A live gauge file, or a file that was not there when the pid died.
                reused.append(entry.parsed.pid)
                continue
            }
            if known.frozen { frozen.append(known) }
        }
        // One guard for all the header reads; one per file only if something shrank.
        let (changed, faulted) = SigbusGuard.readAnyMapping { frozen.filter { !$0.frozenHeaderUnchangedUnguarded() } }
        let suspects = faulted ? frozen.filter { !$0.frozenHeaderUnchanged() } : changed
        reused += suspects.map(\.parsedName.pid)
        for pid in reused { thaw(pid: pid) }
    }

    /// A pid marked dead is alive again: read its files normally.
    private mutating func thaw(pid: String) {
        guard deadPids.remove(ExactString(pid)) != nil else { return }
        for file in files.values where file.parsedName.pid.exactlyEquals(pid) { file.frozen = false }
    }

    // MARK: Accumulation

    private mutating func accumulate(plan: MergePlan, files: [TrackedFile]) -> SlotValues {
        let slots = files.map { builder.slots(of: $0) }
        func foldEveryFile() -> SlotValues {
            plan.accumulate(entrySlots: slots, values: files.map(\.values), timestamps: files.map(\.timestamps))
        }
        let isFrozen = files.map(\.frozen)
        guard isFrozen.contains(true) else {
            fold = nil
            fedSinceFold = []
            rebuiltSinceFold = false
            return foldEveryFile()
        }
        let frozenIDs = zip(files, isFrozen).filter(\.1).map(\.0.id)
        if let current = fold, current.frozen == frozenIDs, !rebuiltSinceFold,
           let carried = current.plan === plan ? current : current.extended(to: plan, fedSlots: fedSinceFold) {
            fold = carried
        } else {
            fold = DeadFold(plan: plan, files: files, slots: slots, isFrozen: isFrozen, forcedSequential: forcedSequential)
        }
        fedSinceFold = []
        rebuiltSinceFold = false
        var positions: [Int] = []
        positions.reserveCapacity(frozenIDs.count)
        var live: [(position: Int, file: TrackedFile, slots: [Int32])] = []
        for (i, file) in files.enumerated() {
            if isFrozen[i] { positions.append(i) } else { live.append((i, file, slots[i])) }
        }
        let (folded, broken) = fold!.accumulate(plan: plan, positions: positions, live: live)
        if let folded { return folded }
        // A live value broke an exact sum: fold everything this time, interleave next time.
        forcedSequential.formUnion(broken)
        fold = nil
        return foldEveryFile()
    }
}
