import Glibc
import Synchronization

// MARK: - What is remembered about one file between scrapes

/// One metric file as the cache knows it: its mapping, the entries parsed so far (key id and
/// value offset) and where parsing stopped. A scrape loads values at the known offsets and
/// parses only the bytes past the previous `used`.
final class TrackedFile {
    /// Unique for the life of the process: identity for plans and folds, which must never
    /// mistake a new file for a freed one that happened to live at the same address.
    let id: Int
    private static let nextID = Atomic<Int>(0)
    let name: String
    let parsedName: MetricFileName
    /// `d_ino` from the listing that found this file: a different one is a different file.
    let listedInode: UInt64

    /// Set from outside only by the in-memory fuzz target (Fuzzing.swift).
    var mapping: MappedFile? {
        didSet { lastModified = nil }
    }
    /// The modification time seen by the last ``mayHaveBeenRewritten(directory:)`` of this mapping.
    private var lastModified: Int?
    /// Offset just past the last entry parsed.
    private(set) var parsedEnd = EntryParser.headerSize
    /// `used` as last read.
    private(set) var used = 0
    /// Parsing stopped at a corrupt entry: nothing after it is trusted until the file is
    /// replaced or rewritten.
    private(set) var stalled = false
    /// The layout of the file as last read (which prometheus_client release wrote it): decides
    /// the value width of every entry and the key shape every key must have.
    private(set) var detectedLayout = DetectedLayout.pending
    /// The layout, once known.
    var layout: FileLayout? { detectedLayout.layout }

    private(set) var keyIDs: [KeyTable.ID] = []
    private(set) var valueOffsets: [Int32] = []
    var valueCount: Int { valueOffsets.count }
    /// Values (and, for gauge files of a layout with timestamps, timestamps; empty means all
    /// 0, as Python reads entries without one) as of the last successful read.
    private(set) var values: [Double] = []
    private(set) var timestamps: [Double] = []
    /// Problems with entries (bad keys, the corrupt entry parsing stopped at): they last as
    /// long as this content of the file.
    private(set) var entryProblems: [FileProblem] = []
    /// Problem with the header as of the last read.
    private(set) var headerProblem: FileProblem?
    /// Bumped whenever the entry list changes, so a merge plan can tell it is out of date.
    private(set) var generation = 0
    /// Bumped whenever the entry list starts over (entries are only appended in between).
    private(set) var epoch = 0
    /// Key ids from this index on come from a thread's own ``KeyTable`` (parallel refresh)
    /// until ``adoptKeys(_:)`` maps them into the collector's; nil when all are the collector's.
    private var localKeysFrom: Int?
    /// The pid was marked dead and this file is not a live gauge: nobody writes it any more,
    /// so its values are final and scrapes stop reading them (see ``DeadPids``, ``DeadFold``).
    private(set) var isFrozen = false

    init(entry: MetricDirectory.Entry) {
        id = Self.nextID.add(1, ordering: .relaxed).newValue
        name = entry.name
        parsedName = entry.parsed
        listedInode = entry.inode
    }

    /// The outcome of bringing the file up to date.
    enum RefreshResult {
        /// Values are current; the file takes part in the merge. `parsed`: new entries were read.
        case ready(parsed: Bool)
        /// The file takes no part in this merge; `problem` says why, or is nil when that is
        /// normal (a live gauge file removed by mark-dead).
        case excluded(FileProblem?)
    }

    var problems: [FileProblem] {
        headerProblem.map { [$0] + entryProblems } ?? entryProblems
    }

    private var isLiveGauge: Bool { parsedName.gaugeMode?.isLive == true }

    /// Maps the file if needed and parses new entries. Values are loaded separately by
    /// ``loadValues()``, which can run for many files in parallel.
    func refresh(directory: Int32, keys: inout KeyTable) -> RefreshResult {
        if mapping == nil, let excluded = map(directory: directory) { return excluded }
        var remapped = false
        while let file = mapping {
            let (outcome, faults) = SigbusGuard.read(file.bytes) {
                self.read(file.bytes, keys: &keys, acceptShortMapping: remapped)
            }
            if faults.happened {
                reset()
                return .excluded(problem(.truncatedWhileReading, "the file shrank while it was read; it is read again from scratch next scrape"))
            }
            guard let parsed = outcome else {
                // `used` lies past the mapping: the writer grew the file. Map it again, once.
                remapped = true
                let previous = file.identity
                mapping = nil
                if let excluded = map(directory: directory) { return excluded }
                if mapping?.identity != previous {
                    reset()
                    return .excluded(problem(.truncatedWhileReading, "the file was replaced while it was read; it is read again next scrape"))
                }
                continue
            }
            return .ready(parsed: parsed)
        }
        return .excluded(nil)
    }

    /// Without inotify (``FileChangeWatch``): whether the file may have been changed by a
    /// system call since it was last looked at: it is shorter than its mapping, or its
    /// modification time moved. Writers' stores into their mappings move it too, now and then
    /// (when written-back pages are dirtied again), which only costs a re-read. A file gone or
    /// replaced is left to the listing.
    func mayHaveBeenRewritten(directory: Int32) -> Bool {
        guard let mapping else { return false }
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0, UInt64(info.st_ino) == mapping.identity.inode else {
            return false
        }
        defer { lastModified = info.modifiedNanoseconds }
        return Int(info.st_size) < mapping.length || info.modifiedNanoseconds != (lastModified ?? mapping.modified)
    }

    /// Freezes the file (its values are final). Its mapped pages are released, but for the
    /// header that betrays a reused pid.
    func freeze() {
        guard !isFrozen else { return }
        isFrozen = true
        mapping?.releasePagesAfterHeader()
    }

    /// Reads the file normally again (the pid was reused, or marked dead once more).
    func thaw() { isFrozen = false }

    /// For a frozen file: whether its header still says what it said when it froze. A change
    /// means the pid was reused by a new worker (or the file was damaged): it thaws. Reads the
    /// mapping: the caller guards it (``SigbusGuard/readAnyMapping(_:)``, for many at once).
    func frozenHeaderUnchanged() -> Bool {
        guard let file = mapping, file.bytes.count >= EntryParser.headerSize else { return false }
        return EntryParser.readUsed(file.bytes) == used
    }

    /// ``refresh(directory:keys:)`` with a table of the calling thread's own: the ids of keys
    /// parsed now are local to it until ``adoptKeys(_:)``.
    func refreshWithLocalKeys(directory: Int32, keys: inout KeyTable) -> RefreshResult {
        localKeysFrom = keyIDs.count
        return refresh(directory: directory, keys: &keys)
    }

    /// Maps the ids of keys parsed with a thread's table (`mapping`: its id → the collector's).
    func adoptKeys(_ mapping: [KeyTable.ID]) {
        defer { localKeysFrom = nil }
        guard let start = localKeysFrom, start < keyIDs.count else { return }
        for i in start..<keyIDs.count { keyIDs[i] = mapping[Int(keyIDs[i])] }
    }

    /// The collector's key table was rebuilt: `mapping` gives each old id's new id.
    func renumberKeys(_ mapping: [KeyTable.ID]) {
        for i in keyIDs.indices { keyIDs[i] = mapping[Int(keyIDs[i])] }
    }

    /// Opens and maps the file; returns why it is excluded when that fails.
    private func map(directory: Int32) -> RefreshResult? {
        switch MappedFile.open(directory: directory, name: name) {
        case .mapped(let file):
            mapping = file
            return nil
        case .empty:
            return .excluded(problem(.emptyFile, "the file is empty (0 bytes)"))
        case .missing:
            // `live*` files are removed by mark-dead at any moment: not an error.
            return .excluded(isLiveGauge ? nil : problem(.vanished, "the file disappeared between listing and reading"))
        case .problem(let reason, let detail):
            return .excluded(problem(reason, detail))
        }
    }

    /// Runs inside the SIGBUS guard: any byte of the mapping may vanish under it.
    /// Returns whether entries were parsed, or nil when the mapping is too small for `used`.
    private func read(_ bytes: UnsafeRawBufferPointer, keys: inout KeyTable, acceptShortMapping: Bool) -> Bool? {
        guard bytes.count >= EntryParser.headerSize else {
            // A mapping shorter than a header holds no entry: what was read through an earlier,
            // longer mapping of this file (before a remap) is gone, as a cold read would find.
            if used != 0 || parsedEnd != EntryParser.headerSize || !entryProblems.isEmpty {
                resetEntries()
                detectedLayout = .pending
            }
            headerProblem = EntryParser.headerProblem(used: 0, fileSize: bytes.count).map { problem($0.0, $0.1) }
            return false
        }
        let currentUsed = EntryParser.readUsed(bytes)
        if currentUsed > bytes.count, !acceptShortMapping { return nil }
        // `used` never goes down in a live file, and a file never gets shorter than what was
        // parsed from it: this is new content under the same inode (or a file cut short while
        // it grew). The old value offsets may lie past this mapping. A file with corrupt
        // entries may have been caught mid-rewrite (half a key, zeros where an entry goes): it
        // is parsed afresh each scrape, as a cold read would.
        let newContent = currentUsed < used || parsedEnd > bytes.count || !entryProblems.isEmpty
        // Whenever there are bytes to parse, the layout is decided on the file as it is now,
        // exactly as a cold read decides it (a few entries' lengths, see LayoutDetection); a
        // layout decided on fewer entries that no longer holds means starting over.
        let layoutNow = newContent || (!stalled && min(currentUsed, bytes.count) > parsedEnd)
            ? DetectedLayout(detecting: bytes, used: currentUsed) : detectedLayout
        if newContent || (detectedLayout != .pending && layoutNow != detectedLayout) { resetEntries() }
        detectedLayout = layoutNow
        // After the reset, which clears it (a negative `used` is below the initial 0).
        headerProblem = EntryParser.headerProblem(used: currentUsed, fileSize: bytes.count).map { problem($0.0, $0.1) }
        used = currentUsed
        guard !stalled, min(currentUsed, bytes.count) > parsedEnd else { return false }
        switch detectedLayout {
        case .pending:
            return false
        case .undetectable(let why):
            // Kept as an entry problem: the next read starts over and decides afresh.
            entryProblems = [problem(.undetectedLayout, "\(why); the file is left out")]
            stalled = true
            return false
        case .known(let layout):
            parse(bytes, keys: &keys, layout: layout)
            return true
        }
    }

    private func parse(_ bytes: UnsafeRawBufferPointer, keys: inout KeyTable, layout: FileLayout) {
        // Work on locals: class properties pay an exclusivity check on every access.
        var newKeyIDs = keyIDs
        var newOffsets = valueOffsets
        var problems = entryProblems
        keyIDs = []
        valueOffsets = []
        let expected = max(0, min(used, bytes.count) - parsedEnd) / 64
        newKeyIDs.reserveCapacity(newKeyIDs.count + expected)
        newOffsets.reserveCapacity(newOffsets.count + expected)
        // The successor guess needs an id of the table parsed with: with a thread's own table,
        // ids from before this parse belong to the collector's.
        let lastIsFromThisTable = localKeysFrom.map { $0 < newKeyIDs.count } ?? true
        var previous: KeyTable.ID = lastIsFromThisTable ? newKeyIDs.last ?? -1 : -1
        var parsedAny = false
        let shape = layout.keyShape
        let outcome = EntryParser.parse(bytes, from: parsedEnd, used: used, valueWidth: layout.valueWidth) { entry in
            parsedAny = true
            let start = Int(entry.keyStart)
            let id = keys.intern(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + Int(entry.keyLength))]), after: previous)
            previous = id
            guard keys.shapes[Int(id)] == shape else {
                problems.append(keyProblem(keys, id, at: start - 4, layout: layout))
                return
            }
            newKeyIDs.append(id)
            newOffsets.append(entry.valueOffset)
        }
        keyIDs = newKeyIDs
        valueOffsets = newOffsets
        if let (reason, detail) = outcome.problem {
            problems.append(problem(reason, detail + "; later entries are ignored"))
            stalled = true
        }
        entryProblems = problems
        parsedEnd = outcome.end
        if parsedAny { generation += 1 }
    }

    /// Why the key `id` at `offset` is skipped: it did not decode, or has a shape other than
    /// the one `layout` has.
    private func keyProblem(_ keys: KeyTable, _ id: KeyTable.ID, at offset: Int, layout: FileLayout) -> FileProblem {
        if case .failure(let error) = keys.decoded[Int(id)] {
            return problem(error.reason, "entry at offset \(offset) skipped: \(error.detail)")
        }
        let found = keys.shapes[Int(id)]?.spelled ?? "?"
        return problem(.unexpectedKeyShape, "entry at offset \(offset) skipped: a key of shape \(found) in a file of "
                       + "layout \(layout.rawValue), whose keys are \(layout.keyShape.spelled)")
    }

    /// Loads every value (and gauge timestamp) from the mapping. Touches nothing but this
    /// file's own state, so different files may load on different threads. Returns nil when
    /// the file shrank under the read: it is then reset and must be left out of the merge.
    func loadValues() -> FileProblem? {
        guard let file = mapping else { return nil }
        let (_, faults) = SigbusGuard.read(file.bytes) { self.loadValues(file.bytes) }
        guard faults.happened else { return nil }
        reset()
        return problem(.truncatedWhileReading, "the file shrank while it was read; it is read again from scratch next scrape")
    }

    private func loadValues(_ bytes: UnsafeRawBufferPointer) {
        let count = valueOffsets.count
        if values.count != count { values = [Double](repeating: 0, count: count) }
        // Only `mostrecent` gauges read timestamps; files of layouts without any keep none.
        let isGauge = parsedName.type == .gauge && layout?.hasTimestamps == true
        if isGauge, timestamps.count != count { timestamps = [Double](repeating: 0, count: count) }
        valueOffsets.withUnsafeBufferPointer { offsets in
            values.withUnsafeMutableBufferPointer { out in
                for i in 0..<count {
                    out[i] = bytes.loadUnaligned(fromByteOffset: Int(offsets[i]), as: Double.self)
                }
            }
            if isGauge {
                timestamps.withUnsafeMutableBufferPointer { out in
                    for i in 0..<count {
                        out[i] = bytes.loadUnaligned(fromByteOffset: Int(offsets[i]) + 8, as: Double.self)
                    }
                }
            }
        }
    }

    private func resetEntries() {
        parsedEnd = EntryParser.headerSize
        used = 0
        stalled = false
        keyIDs = []
        if localKeysFrom != nil { localKeysFrom = 0 }
        valueOffsets = []
        values = []
        timestamps = []
        entryProblems = []
        headerProblem = nil
        generation += 1
        epoch += 1
    }

    /// Forgets everything, mapping included: the next refresh starts from scratch.
    func reset() {
        mapping = nil
        isFrozen = false
        detectedLayout = .pending
        resetEntries()
    }

    func problem(_ reason: FileProblem.Reason, _ detail: String) -> FileProblem {
        FileProblem(file: name, reason: reason, detail: detail)
    }
}
