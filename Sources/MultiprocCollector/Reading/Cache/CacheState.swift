import MultiprocSupport

// MARK: - The cache behind DirectoryCollector

/// Everything kept between scrapes, and the refresh that brings it up to date. Only touched
/// under the collector's lock.
///
/// A refresh: list the directory (``ListingCache``), thaw dead pids that came back
/// (``DeadPids``), map and parse what is new (``TrackedFile``, ``ParallelRefresh``), load values
/// (``ValueLoader``), update the merge plan if any file's entry list changed
/// (``PlanBuilder``), accumulate the values onto the dead pids' fold (``FoldCache``), freeze
/// the files of dead pids.
struct CacheState: ~Copyable {
    /// Every distinct key of the files below; ids index ``PlanBuilder``'s per-key tables.
    private var keys = KeyTable()
    /// Files of the last listing by name. A name listed with another inode is another file.
    private var files: [String: TrackedFile] = [:]
    private var listing = ListingCache()
    private var changeWatch: FileChangeWatch
    private var deadPids = DeadPids()
    private var plan = PlanState()
    private var fold = FoldCache()
    /// Files an interrupted compaction pass already put into an archive (left out).
    private var pendingFolds = PendingFolds()
    /// Pids dead when the cache last started afresh: recorded again by the next refresh.
    private var deadBeforeRestart: [String] = []
    /// Metric files of the last listing, each with its state when it was merged (for ``DirectoryCollector/inspect()``).
    private(set) var lastListing: [ListingOutcome] = []

    /// A metric file of the last listing, and whether it took part in the merge.
    struct ListingOutcome {
        var name: String
        var parsed: MetricFileName
        /// Nil when the file took no part in the merge.
        var merged: TrackedFile?
    }

    /// Entries from which values load on two threads (lowered by tests to exercise that path).
    let parallelLoadThreshold: Int
    /// The most files tracked since the cache last started afresh (see ``startAfreshIfShrunk()``).
    private var peakFiles = 0

    init(options: DirectoryCollector.Options = DirectoryCollector.Options()) {
        parallelLoadThreshold = options.parallelLoadThreshold
        changeWatch = FileChangeWatch(options.changeDetection)
    }

    /// Pids no longer dead (see ``DeadPids/forget(_:files:)``).
    mutating func forgetDeadPids(_ pids: [String]) {
        deadPids.forget(pids, files: files)
    }

    /// Drops what is known of file `name`: the next refresh reads it from scratch (the
    /// compactor changed it in place).
    mutating func forgetFile(_ name: String) {
        files[name] = nil
    }

    /// Brings every file up to date and merges them. `newlyDead` are pids marked dead since
    /// the last refresh.
    ///
    /// The files are read under a shared `flock` on the directory, which a compaction pass of
    /// any process takes exclusively for its switch: no scrape, in this process or another,
    /// sees a pass half done. `sharedLock: false` is for the compactor's own refreshes, which
    /// hold the exclusive lock already.
    mutating func refresh(path: String, newlyDead: [String] = [], sharedLock: Bool = true) -> Snapshot {
        var statistics = ScrapeStatistics()
        var problems: [FileProblem] = []
        lastListing = []
        let recordedNow = deadPids.record(newlyDead + deadBeforeRestart, files: files)
        deadBeforeRestart = []

        var merged: [TrackedFile] = []
        do {
            let directory = try MetricDirectory(path: path)
            if sharedLock { directory.lockShared() }
            pendingFolds.update(directory: directory.descriptor)
            merged = refreshFiles(in: directory, path: path, problems: &problems, statistics: &statistics)
        } catch {
            files = [:]
            peakFiles = 0  // not a shrinking directory: no reason to start afresh
            listing.forget()
            problems.append(FileProblem(file: "", reason: .directoryUnreadable, detail: error.description))
        }
        trimKeysIfMostlyUnused()

        if let outcome = plan.update(files: merged, keys: keys) {
            statistics.planRebuilt = outcome.rebuilt
            statistics.planChanged = outcome.changed
            fold.planChanged(outcome, plan: plan.builder.plan)
        }
        for file in merged { problems.append(contentsOf: plan.builder.problems(of: file)) }
        let currentPlan = plan.builder.plan
        let slots = fold.accumulate(plan: currentPlan, files: merged, slots: merged.map { plan.builder.slots(of: $0) })

        statistics.count(merged)
        deadPids.freeze(merged, recordedNow: recordedNow, files: files)
        let snapshot = Snapshot(plan: currentPlan, slots: slots, problems: problems, statistics: statistics)
        startAfreshIfShrunk()
        return snapshot
    }

    // MARK: Files

    /// Lists the directory, brings each file up to date and loads values; returns the files
    /// that take part in the merge, in merge (listing) order.
    private mutating func refreshFiles(in directory: borrowing MetricDirectory, path: String, problems: inout [FileProblem],
                                       statistics: inout ScrapeStatistics) -> [TrackedFile] {
        let version = directory.version()
        let listedFiles = listing.files(of: directory, version: version)
        let rewritten = resetRewrittenFiles(changeWatch.changes(path: path, version: version), directory: directory.descriptor)
        statistics.sigbusFaults += deadPids.thawReused(listedFiles, files: files, rewritten: rewritten)
        var seen: [String: TrackedFile] = [:]
        var order: [(listed: MetricDirectory.ListedFile, file: TrackedFile)] = []
        for listed in listedFiles {
            if listed.isSymlink {
                problems.append(FileProblem(file: listed.name, reason: .symlink, detail: "is a symbolic link; not followed"))
                lastListing.append(ListingOutcome(name: listed.name, parsed: listed.parsed))
                continue
            }
            // Counted in an archive already (an interrupted pass did not delete it yet).
            if pendingFolds.excludes(listed.name, inode: listed.inode) { continue }
            let known = files[listed.name].flatMap { $0.listedInode == listed.inode ? $0 : nil }
            let file = known ?? TrackedFile(listed: listed)
            seen[listed.name] = file
            order.append((listed, file))
        }
        files = seen

        // Map and parse what changed (frozen files never change while they stay frozen).
        let toRefresh = order.map(\.file).filter { !$0.isFrozen }
        let unmapped = toRefresh.reduce(0) { $0 + ($1.mapping == nil ? 1 : 0) }
        // Tests force both paths through the load threshold: 0 = always parallel, max = never.
        let parallel = parallelLoadThreshold != .max && unmapped >= (parallelLoadThreshold == 0 ? 2 : ParallelRefresh.threshold)
        var results = ParallelRefresh.refresh(toRefresh, directory: directory.descriptor, keys: &keys, parallel: parallel).makeIterator()

        var candidates: [TrackedFile] = []
        var toLoad: [TrackedFile] = []
        for (listed, file) in order {
            if file.isFrozen {
                candidates.append(file)
                continue
            }
            switch results.next()! {
            case .ready(let parsed):
                candidates.append(file)
                toLoad.append(file)
                if parsed { statistics.filesParsed += 1 }
            case .excluded(let problem):
                if let problem { problems.append(problem) }
                lastListing.append(ListingOutcome(name: listed.name, parsed: listed.parsed))
            }
        }

        var failed = Set<Int>()
        for (file, fault) in zip(toLoad, ValueLoader.load(toLoad, parallelThreshold: parallelLoadThreshold)) {
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
            let takesPart = !failed.contains(file.id)
            lastListing.append(ListingOutcome(name: file.name, parsed: file.parsedName, merged: takesPart ? file : nil))
            guard takesPart else { continue }
            problems.append(contentsOf: file.problems)
            merged.append(file)
        }
        return merged
    }

    /// Resets (to be read from scratch) the files that system calls changed, or the mapped
    /// files that may have been rewritten when the changes are unknown; returns them (their
    /// pids thaw: see ``DeadPids/thawReused(_:files:rewritten:)``).
    private func resetRewrittenFiles(_ changes: FileChangeWatch.Changes, directory: Int32) -> [TrackedFile] {
        let rewritten: [TrackedFile]
        switch changes {
        case .names(let names):
            // Unmapped files too: one that was empty or cut below its header when its pid was
            // marked dead, written again in place, is a new worker's, and its pid must thaw.
            rewritten = names.compactMap { files[$0] }
        case .unknown:
            rewritten = files.values.filter { $0.mayHaveBeenRewritten(directory: directory) }
        case .unchecked:
            rewritten = []
        }
        for file in rewritten { file.startOver(.rewritten) }
        return rewritten
    }

    // MARK: Memory

    /// Keys of files that are gone (an app restart wiped the directory, workers with fresh
    /// label values came and went) would otherwise stay in the table for good: when more than
    /// half of a large table is unused, it is rebuilt with the keys of the current files, and
    /// the plan (whose per-key tables are indexed by key id) is rebuilt with it.
    private mutating func trimKeysIfMostlyUnused() {
        guard keys.count >= KeyTable.trimThreshold, keys.count >= 2 * keysAfterLastTrim else { return }
        var used = [Bool](repeating: false, count: keys.count)
        for file in files.values {
            for id in file.keyIDs { used[Int(id)] = true }
        }
        let usedCount = used.reduce(0) { $0 + ($1 ? 1 : 0) }
        keysAfterLastTrim = max(usedCount, KeyTable.trimThreshold / 2)
        guard usedCount * 2 < keys.count else { return }
        let (trimmed, newIDs) = keys.keeping(used)
        keys = trimmed
        for file in files.values { file.renumberKeys(newIDs) }
        plan.forgetKeys()
        // Hand the freed key and plan memory back to the system, so the process's size
        // follows what the directory holds now (glibc keeps freed heap otherwise).
        releaseFreedHeap()
    }

    /// Table size at the last trim check: the next check waits until the table doubled.
    private var keysAfterLastTrim = 0

    /// When the directory holds less than half the files the cache once tracked (a compaction
    /// folded thousands of dead workers' files, the app wiped the directory), everything the
    /// cache keeps is dropped and the memory handed back, so that the process is again the
    /// size of a fresh one: what survives in place (a few thousand small objects scattered over
    /// the pages of a large heap) would otherwise keep most of those pages. The next refresh
    /// reads the directory from scratch, as a fresh collector would, and merges to the same bits.
    /// Dead pids are recorded again by that refresh, which freezes their files after reading them.
    /// The change watch stays: names it reports match no tracked file until they are read again.
    private mutating func startAfreshIfShrunk() {
        peakFiles = max(peakFiles, files.count)
        guard peakFiles >= Self.shrinkThreshold, files.count * 2 < peakFiles else { return }
        deadBeforeRestart = deadPids.all
        keys = KeyTable()
        files = [:]
        listing = ListingCache()
        deadPids = DeadPids()
        plan = PlanState()
        fold = FoldCache()
        keysAfterLastTrim = 0
        peakFiles = 0
        releaseFreedHeap()
    }

    /// Below this many files, a shrinking directory never frees enough to be worth a cold read.
    static let shrinkThreshold = 1024
}

/// The merge plan and the inputs it was built from.
struct PlanState {
    private(set) var builder = PlanBuilder()
    /// The files (identity and entry-list generation) the plan was built from, in merge order.
    private var signature: [Input] = []

    private struct Input: Equatable {
        var file: Int
        var generation: Int
    }

    /// Recompiles the merge when the files or their entry lists changed; nil when nothing did.
    mutating func update(files: [TrackedFile], keys: KeyTable) -> PlanBuilder.Outcome? {
        let current = files.map { Input(file: $0.id, generation: $0.generation) }
        guard current != signature else { return nil }
        signature = current
        return builder.update(files: files, keys: keys)
    }

    /// Key ids were renumbered: the next update rebuilds from scratch.
    mutating func forgetKeys() {
        builder = PlanBuilder()
        signature = []
    }
}

extension ScrapeStatistics {
    /// Counts the merged files.
    mutating func count(_ merged: [TrackedFile]) {
        var pids = Set<String>()  // ASCII digits (MetricFileName): String equality is byte equality
        for file in merged {
            filesByType[file.parsedName.type, default: 0] += 1
            if let layout = file.layout { filesByLayout[layout, default: 0] += 1 }
            bytesUsed += min(file.used, file.mapping?.length ?? 0)
            entries += file.keyIDs.count
            if file.isFrozen { filesFrozen += 1 }
            pids.insert(file.parsedName.pid)
        }
        self.pids = pids.count
    }
}
