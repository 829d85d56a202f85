import Glibc
import Synchronization

// MARK: - What is remembered about one file between scrapes

/// One metric file as the cache knows it: where reading it stands (``ReadState``: unmapped,
/// reading its mapping, or frozen) and what was read of its current content
/// (``ContentRead``: `used`, where parsing ended, the layout, the entries). A scrape loads
/// values at the known offsets and parses only the bytes past the previous `used`.
///
/// Invariant: ``content`` is empty while the file is unmapped. The content read so far is
/// only ever thrown away by ``startOver(_:)``, which says why.
final class TrackedFile {
    /// Unique for the life of the process: identity for plans and folds, which must never
    /// mistake a new file for a freed one that happened to live at the same address.
    let id: Int
    private static let nextID = Atomic<Int>(0)
    let name: String
    let parsedName: MetricFileName
    /// `d_ino` from the listing that found this file: a different one is a different file.
    let listedInode: UInt64

    private(set) var state = ReadState.unmapped
    private(set) var content = ContentRead()
    /// Bumped whenever the entry list changes, so a merge plan can tell it is out of date.
    private(set) var generation = 0
    /// Bumped whenever the entry list starts over (entries are only appended in between).
    private(set) var epoch = 0
    private var keyNumbering = KeyNumbering.collector

    init(listed: MetricDirectory.ListedFile) {
        id = Self.nextID.add(1, ordering: .relaxed).newValue
        name = listed.name
        parsedName = listed.parsed
        listedInode = listed.inode
    }

    /// A file mapped already (the in-memory fuzz target, Fuzzing.swift, maps anonymous memory).
    convenience init(listed: MetricDirectory.ListedFile, mapping: MappedFile) {
        self.init(listed: listed)
        state = .reading(Mapping(mapping))
    }

    // MARK: What the merge reads

    var keyIDs: [KeyTable.ID] { content.entries.keyIDs }
    var valueCount: Int { content.entries.count }
    /// Values (and, for gauge files of a layout with timestamps, timestamps; empty means all
    /// 0) as of the last successful load.
    var values: [Double] { content.entries.values }
    var timestamps: [Double] { content.entries.timestamps }
    /// `used` as last read.
    var used: Int { content.used }
    /// The layout, once known: which prometheus_client release wrote the file.
    var layout: FileLayout? { content.layout.layout }
    var mapping: MappedFile? { state.mapping?.file }
    var isFrozen: Bool {
        if case .frozen = state { return true }
        return false
    }

    /// The header's problem and the entries' problems: they last as long as this content.
    var problems: [FileProblem] {
        content.headerProblem.map { [$0] + content.entryProblems } ?? content.entryProblems
    }

    private var isLiveGauge: Bool { parsedName.gaugeMode?.isLive == true }

    // MARK: Refreshing

    /// The outcome of bringing the file up to date.
    enum RefreshResult {
        /// Values are current; the file takes part in the merge. `parsed`: new entries were read.
        case ready(parsed: Bool)
        /// The file takes no part in this merge; `problem` says why, or is nil when that is
        /// normal (a live gauge file removed by mark-dead).
        case excluded(FileProblem?)
    }

    /// Maps the file if needed and parses new entries. Values are loaded separately by
    /// ``loadValues()``, which can run for many files in parallel. Frozen files are never
    /// refreshed (their content is final).
    func refresh(directory: Int32, keys: inout KeyTable) -> RefreshResult {
        var mapping: Mapping
        switch state {
        case .unmapped:
            switch open(directory: directory) {
            case .success(let file): mapping = Mapping(file)
            case .failure(let excluded): return .excluded(excluded.problem)
            }
            state = .reading(mapping)
        case .reading(let current):
            mapping = current
        case .frozen:
            assertionFailure("\(name): frozen files are not refreshed")
            return .ready(parsed: false)
        }
        var remapped = false
        while true {
            let bytes = mapping.file.bytes
            let (outcome, faults) = SigbusGuard.read(bytes) { self.read(bytes, keys: &keys, acceptShortMapping: remapped) }
            if faults.happened {
                startOver(.shrank)
                return .excluded(problem(.truncatedWhileReading, "the file shrank while it was read; it is read again from scratch next scrape"))
            }
            if let parsed = outcome { return .ready(parsed: parsed) }
            // `used` lies past the mapping: the writer grew the file. Map it again, once.
            remapped = true
            switch open(directory: directory) {
            case .success(let file) where file.identity == mapping.file.identity:
                mapping = Mapping(file)
                state = .reading(mapping)
            case .success:
                startOver(.replaced)
                return .excluded(problem(.truncatedWhileReading, "the file was replaced while it was read; it is read again next scrape"))
            case .failure(let excluded):
                startOver(.replaced)
                return .excluded(excluded.problem)
            }
        }
    }

    /// Loads every value (and gauge timestamp) from the mapping. Touches nothing but this
    /// file's own state, so different files may load on different threads. Returns nil when
    /// the values are loaded; otherwise the problem that leaves the file out of this merge:
    /// it shrank under the read, and starts over (the next refresh reads it from scratch).
    func loadValues() -> FileProblem? {
        guard case .reading(let mapping) = state else { return nil }
        let bytes = mapping.file.bytes
        let withTimestamps = parsedName.type == .gauge && layout?.hasTimestamps == true
        let (_, faults) = SigbusGuard.read(bytes) { self.content.entries.load(from: bytes, timestamps: withTimestamps) }
        guard faults.happened else { return nil }
        startOver(.shrank)
        return problem(.truncatedWhileReading, "the file shrank while it was read; it is read again from scratch next scrape")
    }

    /// Without inotify (``FileChangeWatch``): whether the file may have been changed by a
    /// system call since it was last looked at: it is shorter than its mapping, or its
    /// modification time moved. Writers' stores into their mappings move it too, now and then
    /// (when written-back pages are dirtied again), which only costs a re-read. A file gone or
    /// replaced is left to the listing.
    func mayHaveBeenRewritten(directory: Int32) -> Bool {
        guard var mapping = state.mapping else { return false }
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0, UInt64(info.st_ino) == mapping.file.identity.inode else {
            return false
        }
        let rewritten = Int(info.st_size) < mapping.file.length || info.modifiedNanoseconds != mapping.lastModified
        mapping.lastModified = info.modifiedNanoseconds
        state = state.replacing(mapping)
        return rewritten
    }

    /// Forgets the content read so far, and the mapping too unless `reason` says it still
    /// shows the file: the next read parses the file from its first entry. A frozen file
    /// started over is frozen no more (a content read anew is never final).
    func startOver(_ reason: StartOver) {
        if reason.keepsMapping {
            if case .frozen(let mapping) = state { state = .reading(mapping) }
        } else {
            state = .unmapped
        }
        content = ContentRead()
        if case .lane = keyNumbering { keyNumbering = .lane(from: 0) }
        generation += 1
        epoch += 1
    }

    // MARK: Freezing (see DeadPids)

    /// Freezes the file: its content is final (the invariant is ``DeadPids``', which alone
    /// holds a permit). Its mapped pages are released, but for the header that betrays a
    /// reused pid.
    func freeze(_: DeadPids.Permit) {
        guard case .reading(let mapping) = state else { return }
        state = .frozen(mapping)
        mapping.file.releasePagesAfterHeader()
    }

    /// Reads the file normally again (its pid was reused, or marked dead once more; see
    /// ``DeadPids``).
    func thaw(_: DeadPids.Permit) {
        guard case .frozen(let mapping) = state else { return }
        state = .reading(mapping)
    }

    /// For a frozen file: whether its header still says what it said when it froze. A change
    /// means the pid was reused by a new worker (or the file was damaged): it thaws. Reads the
    /// mapping: the caller guards it (``SigbusGuard/readAnyMapping(_:)``, for many at once).
    func frozenHeaderUnchanged() -> Bool {
        guard case .frozen(let mapping) = state, mapping.file.bytes.count >= EntryParser.headerSize else { return false }
        return EntryParser.readUsed(mapping.file.bytes) == content.used
    }

    // MARK: Key ids

    /// ``refresh(directory:keys:)`` with a table of the calling thread's own: the ids of keys
    /// parsed now are local to it until ``adoptKeys(_:)``.
    func refreshWithLocalKeys(directory: Int32, keys: inout KeyTable) -> RefreshResult {
        keyNumbering = .lane(from: content.entries.count)
        return refresh(directory: directory, keys: &keys)
    }

    /// Renumbers the ids of keys parsed with a lane's table (`newIDs`: its id → the collector's).
    func adoptKeys(_ newIDs: [KeyTable.ID]) {
        defer { keyNumbering = .collector }
        guard case .lane(let start) = keyNumbering else { return }
        content.entries.renumberKeys(from: start, newIDs)
    }

    /// The collector's key table was rebuilt: `newIDs` gives each old id's new id.
    func renumberKeys(_ newIDs: [KeyTable.ID]) {
        content.entries.renumberKeys(newIDs)
    }

    // MARK: Reading the mapping

    /// Why a file could not be mapped: the problem, or nil when that is normal.
    private struct Unmappable: Error {
        var problem: FileProblem?
    }

    /// Opens and maps the file.
    private func open(directory: Int32) -> Result<MappedFile, Unmappable> {
        switch MappedFile.open(directory: directory, name: name) {
        case .mapped(let file):
            return .success(file)
        case .empty:
            return .failure(Unmappable(problem: problem(.emptyFile, "the file is empty (0 bytes)")))
        case .missing:
            // `live*` files are removed by mark-dead at any moment: not an error.
            return .failure(Unmappable(problem: isLiveGauge ? nil : problem(.vanished, "the file disappeared between listing and reading")))
        case .problem(let reason, let detail):
            return .failure(Unmappable(problem: problem(reason, detail)))
        }
    }

    /// Runs inside the SIGBUS guard: any byte of the mapping may vanish under it. Returns
    /// whether entries were parsed, or nil when `used` lies past the mapping (to map it again).
    private func read(_ bytes: UnsafeRawBufferPointer, keys: inout KeyTable, acceptShortMapping: Bool) -> Bool? {
        guard bytes.count >= EntryParser.headerSize else {
            // A mapping shorter than a header holds no entry: what was read through an earlier,
            // longer mapping of this file (before a remap) is gone, as a cold read would find.
            if !content.isUntouched { startOver(.newContent) }
            content.headerProblem = headerProblem(used: 0, fileSize: bytes.count)
            return false
        }
        let used = EntryParser.readUsed(bytes)
        if used > bytes.count, !acceptShortMapping { return nil }
        if !content.isContinued(byUsed: used, mappingLength: bytes.count) { startOver(.newContent) }
        let readable = min(used, bytes.count)
        // Whenever there are bytes to parse, the layout is decided on the file as it is now,
        // exactly as a cold read decides it (a few entries' lengths, see LayoutDetection); a
        // layout decided on fewer entries that no longer holds means starting over.
        if readable > content.parsedEnd {
            let layout = DetectedLayout(detecting: bytes, used: used)
            if content.layout != .pending, layout != content.layout { startOver(.layoutChanged) }
            content.layout = layout
        }
        // After any start over, which clears it (a negative `used` is below the initial 0).
        content.headerProblem = headerProblem(used: used, fileSize: bytes.count)
        content.used = used
        guard readable > content.parsedEnd else { return false }
        switch content.layout {
        case .pending:
            return false
        case .undetectable(let why):
            // An entry problem: the next read starts over and decides afresh.
            content.entryProblems = [problem(.undetectedLayout, "\(why); the file is left out")]
            return false
        case .known(let layout):
            parse(bytes, keys: &keys, layout: layout)
            return true
        }
    }

    /// Parses the entries from ``ContentRead/parsedEnd`` to `used`, stopping at the first
    /// corrupt one (an entry problem: the next read starts over).
    private func parse(_ bytes: UnsafeRawBufferPointer, keys: inout KeyTable, layout: FileLayout) {
        let (start, used) = (content.parsedEnd, content.used)
        // The successor guess needs an id of the table parsed with: with a lane's own table,
        // ids from before this parse belong to the collector's.
        let lastIsFromThisTable: Bool
        switch keyNumbering {
        case .collector: lastIsFromThisTable = true
        case .lane(let from): lastIsFromThisTable = from < content.entries.count
        }
        var previous: KeyTable.ID = lastIsFromThisTable ? content.entries.keyIDs.last ?? -1 : -1
        // Work on locals: class properties pay an exclusivity check on every access.
        var problems = content.entryProblems
        var newKeys: [KeyTable.ID] = [], newOffsets: [Int32] = []
        let expected = max(0, min(used, bytes.count) - start) / 64
        newKeys.reserveCapacity(expected)
        newOffsets.reserveCapacity(expected)
        let shape = layout.keyShape
        let outcome = EntryParser.parse(bytes, from: start, used: used, valueWidth: layout.valueWidth) { entry in
            let keyStart = Int(entry.keyStart)
            let id = keys.intern(UnsafeRawBufferPointer(rebasing: bytes[keyStart..<(keyStart + Int(entry.keyLength))]), after: previous)
            previous = id
            guard keys.shapes[Int(id)] == shape else {
                problems.append(keyProblem(keys, id, at: keyStart - 4, layout: layout))
                return
            }
            newKeys.append(id)
            newOffsets.append(entry.valueOffset)
        }
        content.entries.append(keyIDs: newKeys, valueOffsets: newOffsets)
        if let (reason, detail) = outcome.problem {
            problems.append(problem(reason, detail + "; later entries are ignored"))
        }
        content.entryProblems = problems
        content.parsedEnd = outcome.end
        if outcome.end > start { generation += 1 }  // entries were parsed (kept or skipped)
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

    private func headerProblem(used: Int, fileSize: Int) -> FileProblem? {
        EntryParser.headerProblem(used: used, fileSize: fileSize).map { problem($0.0, $0.1) }
    }

    private func problem(_ reason: FileProblem.Reason, _ detail: String) -> FileProblem {
        FileProblem(file: name, reason: reason, detail: detail)
    }
}
