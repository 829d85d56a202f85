import Glibc

// MARK: - Folding dead workers' files into archives, crash-safely

/// One compaction pass over a directory, step by step as docs/design.md §9 writes the
/// protocol (the steps' numbers below are that section's). In short: the pass plans and builds
/// new archive content without any scrape lock; then, under the switch locks, it checks
/// that everything it planned is still so, and for each archive journals the commit, renames
/// the new content over the archive (the commit itself: one atomic rename), and deletes the
/// files it folded. Nothing of the app's is ever renamed or rewritten; ``settle(_:report:)``
/// finishes what a crash interrupted: an archive that holds its new content gets its folded
/// files deleted, any other commit its temporary.
struct Compactor {
    let directory: Int32
    let journal: CompactionJournal
    /// Test hook: called before each step; returning true stops the pass right there, as a
    /// crash would (``CompactionFailure/simulatedCrash(_:)``), leaving the directory and the
    /// journal as they are.
    var stopBefore: (CompactionStep) -> Bool = { _ in false }
    /// Test hook: seconds to sleep before each step (see ``DirectoryCollector/Options``).
    var pauseBeforeEachStep: Double = 0

    init(directory: Int32) {
        self.directory = directory
        journal = CompactionJournal(directory: directory)
    }

    /// Where an archive's new content waits between its naming and its rename (step 4).
    static func temporaryName(pass: Int, archive: String) -> String { "multiproc-exporter.\(pass).\(archive).tmp" }

    /// A pass planned and built (steps 1 and 2), ready for its switch.
    struct PlannedPass {
        var id: Int
        /// The pids whose files it folds (every foldable file of each).
        var pids: [String]
        /// The archives it replaces, in name order, each with the files it folds into it.
        var archives: [NewArchive]
        /// About the most memory the build held at once (one archive and one file).
        var heldBytes = 0

        var files: [FileFingerprint] { archives.flatMap(\.files) }
    }

    /// One archive's new content, waiting in a temporary for its commit.
    struct NewArchive {
        var name: String
        /// The archive the content was built on (nil: there was none).
        var replacedInode: UInt64?
        var temporary: TemporaryArchive
        /// The files folded into it, as planned.
        var files: [FileFingerprint]
        /// Where each entry's value lies in the new file (for ``MonotonicGuard``).
        var valueOffsets: [[UInt8]: Int]

        var swap: JournalRecord.ArchiveSwap {
            .init(name: name, newInode: temporary.inode, hash: temporary.hash, files: files.count)
        }
    }

    // MARK: Step 1: plan

    /// Plans and builds a pass; nil when nothing is due. Updates `ledger` and the journal for
    /// pids found revived or gone, and says in `report` why nothing was due.
    func plan(_ ledger: inout CompactionLedger, delay: Double, now: Double, maxPids: Int,
                       report: inout CompactionReport) throws(CompactionFailure) -> PlannedPass? {
        var planned: [String: [FileFingerprint]] = [:]
        var forget: [String] = []
        let present = Dictionary(grouping: MetricDirectory.metricFiles(of: directory).map(\.parsed).filter { $0.pid != ArchiveContent.pid },
                                 by: \.pid)
        // Oldest deaths first, so that a bounded pass never leaves one behind for good.
        for (pid, entry) in ledger.dead.sorted(by: { ($0.value.markedAt, $0.key) < ($1.value.markedAt, $1.key) }) {
            // Not due yet: nothing to read (the check below compares with the fingerprints
            // taken at death, so a change any time before the fold is caught then).
            guard now - entry.markedAt >= delay else {
                report.pidsWaiting += 1
                continue
            }
            guard planned.count < maxPids else {
                report.pidsDeferred += 1
                continue
            }
            let foldable = (present[pid] ?? []).filter { ArchiveContent.target(of: $0) != nil }
                .compactMap { (try? FileFingerprint.take($0.description, in: directory)) ?? nil }
            if foldable.isEmpty {
                forget.append(pid)  // nothing of it to fold (a wipe, an earlier pass, `all` gauges only)
                continue
            }
            // Revived: a file changed, or a foldable file appeared that was not there when it died.
            let recorded = Dictionary(entry.files.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
            if foldable.contains(where: { !$0.unchanged(as: recorded[$0.name]) }) {
                forget.append(pid)
                report.pidsRevived.append(pid)
                continue
            }
            planned[pid] = foldable
        }
        try record(forgetting: forget, in: &ledger)
        // A file some process maps for writing is in use (a reused pid that opened it): leave that pid.
        let busy = pidsMappingForWriting(Array(planned.values.joined()), archives: existingArchives())
        if busy.contains(ArchiveContent.pid) { throw .io(Self.pidZeroInUse) }
        report.pidsInUse += busy.sorted()
        for pid in busy { planned[pid] = nil }
        guard !planned.isEmpty else { return nil }
        return try build(id: ledger.lastPass + 1, planned: planned, ledger: &ledger, report: &report)
    }

    // MARK: Step 2: build

    /// New content for every archive the planned files fold into: each archive as it is, then
    /// its planned files one at a time, to an unnamed temporary (synced). A pid with a file that
    /// cannot be folded whole (corrupt, or changed since the plan) is left out of the pass, and
    /// the archives are built again without it: a pid is folded whole or not at all.
    private func build(id: Int, planned: [String: [FileFingerprint]], ledger: inout CompactionLedger,
                                report: inout CompactionReport) throws(CompactionFailure) -> PlannedPass? {
        try stop(.build)
        var planned = planned
        while !planned.isEmpty {
            var failed: [String: FailedFile] = [:]
            var pass = PlannedPass(id: id, pids: planned.keys.sorted(), archives: [])
            let byArchive = Dictionary(grouping: planned.values.joined(), by: { ArchiveContent.target(of: MetricFileName($0.name)!)!.name })
            for name in byArchive.keys.sorted() {
                let files = byArchive[name]!.sorted { $0.name < $1.name }
                var content = ArchiveContent(name: name, combination: ArchiveContent.target(of: MetricFileName(files[0].name)!)!.combination)
                let replaced = try existingArchive(name, into: &content)
                var largestFile = 0
                for file in files where failed[MetricFileName(file.name)!.pid] == nil {
                    let pid = MetricFileName(file.name)!.pid
                    guard let (now, bytes) = (try? FileFingerprint.read(file.name, in: directory)) ?? nil, now.unchanged(as: file) else {
                        failed[pid] = .changed
                        continue
                    }
                    do { try content.add(file: bytes, name: file.name) } catch { failed[pid] = .unreadable("\(error)") }
                    largestFile = max(largestFile, bytes.count)
                }
                let bytes = content.bytes
                pass.heldBytes = max(pass.heldBytes, content.heldBytes + bytes.count + largestFile)
                let temporary = try TemporaryArchive(bytes: bytes, name: Self.temporaryName(pass: id, archive: name), in: directory)
                pass.archives.append(NewArchive(name: name, replacedInode: replaced, temporary: temporary, files: files,
                                                valueOffsets: content.valueOffsets))
            }
            if failed.isEmpty { return pass }
            for archive in pass.archives { archive.temporary.discard(in: directory) }
            for (pid, failure) in failed.sorted(by: { $0.key < $1.key }) {
                planned[pid] = nil
                switch failure {
                case .changed: report.pidsRevived.append(pid)
                case .unreadable(let why): report.errors.append(why)  // reported once: the pid is forgotten
                }
            }
            try record(forgetting: failed.keys.sorted(), in: &ledger)
        }
        return nil
    }

    private enum FailedFile {
        case changed
        case unreadable(String)
    }

    /// Reads archive `name` into `content`; returns its inode (nil when there is none). An
    /// archive that cannot be read whole is never replaced: the pass fails.
    private func existingArchive(_ name: String, into content: inout ArchiveContent) throws(CompactionFailure) -> UInt64? {
        let read: (fingerprint: FileFingerprint, bytes: [UInt8])?
        do { read = try FileFingerprint.read(name, in: directory) } catch { throw .io("archive \(error)") }
        guard let read else { return nil }
        do { try content.add(file: read.bytes, name: name) } catch { throw .io("archive \(error)") }
        return read.fingerprint.inode
    }

    // MARK: Shared by the steps

    /// A file as `/proc/<pid>/maps` names it.
    typealias MappedIdentity = (device: UInt64, inode: UInt64, name: String)

    /// The pids of `files` that some process maps for writing (nobody, when no other
    /// process's maps can be read: see ``ProcessTable/filesMappedForWriting(_:)``).
    func pidsMappingForWriting(_ files: [FileFingerprint], archives: [MappedIdentity] = []) -> Set<String> {
        let identities = files.map { ($0.device, $0.inode, $0.name) } + archives
        guard !identities.isEmpty, let mapped = ProcessTable().filesMappedForWriting(identities) else { return [] }
        return Set(identities.filter { mapped.contains($0.inode) }.map { MetricFileName($0.name)!.pid })
    }

    /// Journals that `pids` are no longer dead, as `ledger` knows their deaths (a death recorded
    /// since, by another process or thread, stays), and that `pass` is settled; never creating a
    /// journal the app deleted.
    func record(forgetting pids: [String], in ledger: inout CompactionLedger, done pass: Int? = nil) throws(CompactionFailure) {
        let forgets = pids.compactMap { pid in ledger.dead[pid].map { JournalRecord.forget(pid: pid, markedAt: $0.markedAt) } }
        let records = forgets + (pass.map { [JournalRecord.done(pass: $0)] } ?? [])
        do { try journal.append(records, ifPresent: true) } catch { throw .journal(error) }
        for record in records { ledger.apply(record) }
    }

    /// The archives there are now (regular files), by identity alone: whether a process maps
    /// one needs no read of its content.
    func existingArchives() -> [MappedIdentity] {
        ArchiveContent.names.sorted().compactMap { name in
            var info = stat()
            guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
            return (UInt64(info.st_dev), UInt64(info.st_ino), name)
        }
    }

    /// Archives are files of pid 0, which no process has; a writer whose `process_identifier`
    /// returns 0 (a worker index, uWSGI's master) writes those names too, and nothing may
    /// replace its files.
    static let pidZeroInUse = "a running process maps an archive name (*_0.db) for writing: it writes metric files as pid 0 "
        + "(prometheus_client's process_identifier returns 0?), the pid compaction names its archives with; nothing is compacted "
        + "while it does"

    /// The inode `name` holds, nil when there is no such name.
    func inode(of name: String) -> UInt64? {
        var info = stat()
        return fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? UInt64(info.st_ino) : nil
    }

    func stop(_ step: CompactionStep) throws(CompactionFailure) {
        if pauseBeforeEachStep > 0 { usleep(useconds_t(pauseBeforeEachStep * 1_000_000)) }
        if stopBefore(step) { throw .simulatedCrash(step) }
    }
}

/// Why a pass stopped before its end. The journal says how far it got; the next pass (or
/// the next start) settles it.
enum CompactionFailure: Error, CustomStringConvertible {
    case journal(JournalError)
    case io(String)
    /// A test stopped the pass before `step`.
    case simulatedCrash(CompactionStep)

    var isSimulatedCrash: Bool {
        if case .simulatedCrash = self { return true }
        return false
    }

    var description: String {
        switch self {
        case .journal(let error): return "\(error)"
        case .io(let why): return why
        case .simulatedCrash(let step): return "stopped before \(step.rawValue)"
        }
    }
}
