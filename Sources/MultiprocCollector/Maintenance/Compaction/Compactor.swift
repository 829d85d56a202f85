import Glibc

// MARK: - Folding dead workers' files into archives, crash-safely

/// One compaction pass over a directory, in the steps the README's "Compaction" section
/// describes; every step that changes the directory is recorded in the journal before it is
/// done, so that a pass interrupted anywhere (`kill -9`) is finished or undone by
/// ``recover(_:)`` before anything is served again.
///
/// 1. **plan** (no lock): dead pids marked at least `delay` ago whose recorded files are all
///    still there, byte for byte as when they were marked dead, and mapped by no process;
/// 2. **prepare** (no lock): the new content of each archive they fold into (the archive as
///    it is plus their entries) written to a temporary file and synced; then the journal
///    records the pass (`begin`, `planned`, `archive`, `ready`);
/// 3. **switch** (under the collector's lock, so no scrape sees a half-done pass): each
///    planned file renamed to `<stem>.folding.db` (from now on a writer opening the path
///    starts a fresh file), then checked again (a writer that had it mapped may have written
///    since the plan, or may map it now: then the pass is undone and the pid is alive again);
///    each temporary file renamed over its archive; `commit` journalled; the folding files
///    deleted; the folded pids forgotten.
///
/// A pass that finds the directory wiped under it (``deletion(in:)``) deletes the rest of what
/// it holds rather than put it back: the app meant the directory empty (``discard``); one that
/// finds only some pids' files deleted is undone without those pids.
struct Compactor {
    let directory: Int32
    let journal: CompactionJournal
    /// Test hook: called before each step; returning true stops the pass right there, as a
    /// crash would (``SimulatedCrash``), leaving the directory and the journal as they are.
    var stopBefore: (CompactionStep) -> Bool = { _ in false }
    /// Test hook: seconds to sleep before each step (see ``DirectoryCollector/Options``).
    var pauseBeforeEachStep: Double = 0

    struct SimulatedCrash: Error {}

    init(directory: Int32) {
        self.directory = directory
        journal = CompactionJournal(directory: directory)
    }

    /// Where a planned file waits during the switch. It ends in `.db` so that an app's
    /// `rm -f $DIR/*.db` takes it with the rest, and never parses as a metric file name (no
    /// scrape of ours reads it; prometheus_client's does, as the file it was).
    static func foldingName(_ name: String) -> String { name.dropLast(3) + ".folding.db" }
    static func temporaryName(pass: Int, archive: String) -> String { "multiproc-exporter.\(pass).\(archive).tmp" }

    /// What the plan and prepare steps produced: ready to switch.
    struct PreparedPass {
        var id: Int
        var planned: [FileSnapshot]
        var archives: [JournalRecord.ArchiveSwap]
        var pids: [String]
        /// Where each archive's entries lie (for ``MonotonicGuard``): entry key → value offset.
        var valueOffsets: [String: [String: Int]]
        /// The new archives' content, by archive name (none in a pass found in the journal).
        var temporaries: [String: TemporaryArchive] = [:]
        /// Other metric files of the directory when the pass was planned (name → inode), which
        /// only a wipe deletes: all of them gone means the app wiped the directory (see
        /// ``deletion(in:)``). Journalled with the pass.
        var witnesses: [String: UInt64] = [:]
    }

    /// How many other files a pass watches for a wipe.
    static let witnessCount = 16

    // MARK: Plan and prepare

    /// Plans and prepares a pass; nil when nothing is due. Updates `ledger` and the journal
    /// for pids found revived or gone.
    mutating func prepare(_ ledger: inout CompactionLedger, delay: Double, now: Double,
                          report: inout CompactionReport) throws(CompactionFailure) -> PreparedPass? {
        var planned: [FileSnapshot] = []
        var pids: [String] = []
        var forget: [JournalRecord] = []
        let present = Dictionary(grouping: presentFiles(), by: \.pid)
        for (pid, entry) in ledger.dead.sorted(by: { $0.key < $1.key }) {
            // Not due yet: nothing to read (the check below compares with the snapshot taken
            // at death, so a change any time before the fold is caught then).
            guard now - entry.markedAt >= delay else {
                report.pidsWaiting += 1
                continue
            }
            let foldable = (present[pid] ?? []).filter { ArchiveContent.target(of: $0) != nil }
                .compactMap { (try? FileSnapshot.take($0.description, in: directory)) ?? nil }
            if foldable.isEmpty {
                forget.append(.forget(pid: pid))  // nothing of it to fold (a wipe, another compactor, `all` gauges only)
                continue
            }
            // Revived: a file changed, or a foldable file appeared that was not there when it died.
            let recorded = Dictionary(entry.files.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
            if foldable.contains(where: { !$0.unchanged(as: recorded[$0.name]) }) {
                forget.append(.forget(pid: pid))
                report.pidsRevived.append(pid)
                continue
            }
            planned += foldable
            pids.append(pid)
        }
        for case .forget(let pid) in forget { ledger.apply(.forget(pid: pid)) }
        do { try journal.append(forget, ifPresent: true) } catch { throw .journal(error) }
        guard !planned.isEmpty else { return nil }

        // A file some process maps for writing is in use (a reused pid that opened it): leave that pid.
        if let mapped = ProcessTable().filesMappedForWriting(planned.map { ($0.device, $0.inode, $0.name) }), !mapped.isEmpty {
            let busy = Set(planned.filter { mapped.contains($0.inode) }.map { MetricFileName($0.name)!.pid })
            report.pidsInUse = busy.sorted()
            planned.removeAll { busy.contains(MetricFileName($0.name)!.pid) }
            pids.removeAll { busy.contains($0) }
            if planned.isEmpty { return nil }
        }
        return try write(planned: planned, pids: pids, pass: ledger.lastPass + 1, listed: Array(present.values.joined()),
                         ledger: &ledger, report: &report)
    }

    /// Up to ``witnessCount`` metric files of pids outside the pass, spread over the listing,
    /// that nothing but a wipe deletes: not `live` gauges (mark-dead deletes those).
    private func witnesses(among files: some Sequence<MetricFileName>, besides pids: Set<String>) -> [String: UInt64] {
        let candidates = files.filter { !pids.contains($0.pid) && !($0.gaugeMode?.isLive ?? false) }
        let step = max(1, candidates.count / Self.witnessCount)
        var chosen: [String: UInt64] = [:]
        for file in stride(from: 0, to: candidates.count, by: step).prefix(Self.witnessCount).map({ candidates[$0] }) {
            if let inode = inode(of: file.description) { chosen[file.description] = inode }
        }
        return chosen
    }

    /// Step 2: temporary archives written and synced, the pass journalled. A pid with a file
    /// that cannot be read whole is left out, reported once and forgotten as dead (its files
    /// stay as they are): a pid is folded whole or not at all.
    private func write(planned: [FileSnapshot], pids: [String], pass id: Int, listed: [MetricFileName],
                       ledger: inout CompactionLedger, report: inout CompactionReport) throws(CompactionFailure) -> PreparedPass? {
        var entries: [String: [ArchiveContent.Entry]] = [:]
        var unreadable = Set<String>()
        for file in planned {
            do { entries[file.name] = try ArchiveContent.entries(of: try read(file.name), name: file.name) } catch {
                report.errors.append("\(error)")
                unreadable.insert(MetricFileName(file.name)!.pid)
            }
        }
        let planned = planned.filter { !unreadable.contains(MetricFileName($0.name)!.pid) }
        let pids = pids.filter { !unreadable.contains($0) }
        if !unreadable.isEmpty {
            let forget = unreadable.sorted().map { JournalRecord.forget(pid: $0) }
            do { try journal.append(forget, ifPresent: true) } catch { throw .journal(error) }
            for record in forget { ledger.apply(record) }
        }
        guard !planned.isEmpty else { return nil }

        // Each archive: as it is now, then the planned files' entries in plan order.
        var contents: [String: ArchiveContent] = [:]
        for file in planned {
            let (archive, fold) = ArchiveContent.target(of: MetricFileName(file.name)!)!
            if contents[archive] == nil {
                var content = ArchiveContent(name: archive, fold: fold)
                if exists(archive) {
                    do { content.add(try ArchiveContent.entries(of: try read(archive), name: archive)) } catch {
                        throw .io("archive \(error)")  // never replace an archive we cannot read whole
                    }
                }
                contents[archive] = content
            }
            contents[archive]!.add(entries[file.name]!)
        }

        try stop(.writeTemporaries)
        var swaps: [JournalRecord.ArchiveSwap] = []
        var offsets: [String: [String: Int]] = [:]
        var temporaries: [String: TemporaryArchive] = [:]
        for (name, content) in contents.sorted(by: { $0.key < $1.key }) {
            let temporary = Self.temporaryName(pass: id, archive: name)
            let bytes = content.bytes
            temporaries[name] = try TemporaryArchive(bytes: bytes, name: temporary, in: directory)
            // The inode only, as the switch compares it (the archive was read whole above).
            swaps.append(.init(name: name, temporary: temporary, hash: FileSnapshot.hash(Array(bytes[0..<FileSnapshot.used(of: bytes)])),
                               replacedInode: inode(of: name)))
            offsets[name] = content.valueOffsets
        }
        try stop(.journalReady)
        // Journalled with the pass, so that a restart judges a wipe with the same evidence.
        let witnesses = witnesses(among: listed, besides: Set(pids))
        let records: [JournalRecord] = [.begin(pass: id)] + planned.map { .planned(pass: id, $0) }
            + swaps.map { .archive(pass: id, $0) }
            + witnesses.sorted { $0.key < $1.key }.map { .witness(pass: id, name: $0.key, inode: $0.value) } + [.ready(pass: id)]
        // No journal any more: the app wiped the directory while the pass prepared.
        do { try journal.append(records) } catch { throw .journal(error) }
        for record in records { ledger.apply(record) }
        return PreparedPass(id: id, planned: planned, archives: swaps, pids: pids, valueOffsets: offsets, temporaries: temporaries,
                            witnesses: witnesses)
    }

    // MARK: Switch

    /// Step 3, to run under the collector's lock (and the directory's exclusive `flock`, which
    /// other processes' scrapes take shared). Returns false when the pass was undone: a planned
    /// file changed after the plan (its pid is alive again), or something made the switch
    /// impossible before any archive changed (an archive replaced or the journal gone: the app
    /// wiped the directory; a temporary that cannot be named).
    mutating func switchArchives(_ pass: PreparedPass, ledger: inout CompactionLedger,
                                 report: inout CompactionReport) throws(CompactionFailure) -> Bool {
        try stop(.renameFiles)
        var renamed: [FileSnapshot] = []
        for file in pass.planned {
            // Never over a folding name something else holds (renameat would replace it).
            if exists(Self.foldingName(file.name)) {
                report.errors.append("\(Self.foldingName(file.name)) exists already: pass \(pass.id) undone")
                try undo(pass, renamed: renamed, ledger: &ledger, revived: [])
                return false
            }
            // The name must still hold the planned file: a new worker reusing the pid after a
            // deletion has a file of its own there, which is not ours to move.
            let ours = inode(of: file.name) == file.inode
            guard ours, renameat(directory, file.name, directory, Self.foldingName(file.name)) == 0 else {
                let code = ours ? errno : ENOENT
                if code != ENOENT { report.errors.append("\(file.name): rename: \(errnoText(code))") }
                // Deleted since the plan: by a wipe, or by someone who deleted that pid's file.
                var ended = false
                if code == ENOENT { ended = try end(pass, deletion: deletion(in: pass), renamed: renamed, ledger: &ledger, report: &report) }
                if !ended { try undo(pass, renamed: renamed, ledger: &ledger, revived: []) }
                return false
            }
            renamed.append(file)
        }
        try stop(.verifyFiles)
        if try end(pass, deletion: deletion(in: pass), renamed: renamed, ledger: &ledger, report: &report) { return false }
        // A writer that had a file mapped may have written between the plan and the rename.
        let changed = pass.planned.filter { location(of: $0) != .folding }
        if !changed.isEmpty {
            let revived = Set(changed.map { MetricFileName($0.name)!.pid })
            report.pidsRevived += revived.sorted()
            try undo(pass, renamed: renamed, ledger: &ledger, revived: revived)
            return false
        }
        // A process of a reused pid that opened a file after the plan's look at the maps and
        // maps it now would go on writing into a file about to be deleted: look again.
        let folding = pass.planned.map { ($0.device, $0.inode, Self.foldingName($0.name)) }
        if let mapped = ProcessTable().filesMappedForWriting(folding), !mapped.isEmpty {
            report.pidsInUse += Set(pass.planned.filter { mapped.contains($0.inode) }.map { MetricFileName($0.name)!.pid }).sorted()
            try undo(pass, renamed: renamed, ledger: &ledger, revived: [])
            return false
        }
        // Every temporary named before any archive is switched (once one is, recovery must be
        // able to finish the pass, which needs all of them), and every archive still the one
        // the new content was computed from (another compactor or a wipe may have replaced it).
        try stop(.nameTemporaries)
        do throws(CompactionFailure) {
            for swap in pass.archives { try pass.temporaries[swap.name]?.link(in: directory) }
        } catch {
            report.errors.append("\(error)")
            try undo(pass, renamed: renamed, ledger: &ledger, revived: [])
            return false
        }
        // The last look before the first archive changes.
        if try end(pass, deletion: deletion(in: pass), renamed: renamed, ledger: &ledger, report: &report) { return false }
        if let swap = pass.archives.first(where: { inode(of: $0.name) != $0.replacedInode }) {
            report.errors.append("\(swap.name) changed since the pass was planned (another compactor?): pass \(pass.id) undone")
            try undo(pass, renamed: renamed, ledger: &ledger, revived: [])
            return false
        }
        fsync(directory)
        for swap in pass.archives {
            try stop(.switchArchive)
            guard renameat(directory, swap.temporary, directory, swap.name) == 0 else {
                // Only the journal can finish this pass now: leave it to recovery.
                throw .io("\(swap.name): rename: \(errnoText(errno))")
            }
        }
        fsync(directory)
        try stop(.journalCommit)
        do { try journal.append([.commit(pass: pass.id)]) } catch { throw .journal(error) }
        ledger.apply(.commit(pass: pass.id))
        try finishCommitted(pass.id, planned: pass.planned, pids: pass.pids, ledger: &ledger)
        report.pidsFolded += pass.pids
        report.filesFolded += pass.planned.count
        report.bytesFolded += pass.planned.reduce(0) { $0 + $1.size }
        return true
    }

    /// Where a planned file is now, as planned (same inode and content): renamed, still
    /// under its name, or nowhere (changed, or gone).
    enum Location { case folding, original }

    func location(of file: FileSnapshot) -> Location? {
        if file.unchanged(as: (try? FileSnapshot.take(Self.foldingName(file.name), in: directory)) ?? nil) { return .folding }
        if file.unchanged(as: (try? FileSnapshot.take(file.name, in: directory)) ?? nil) { return .original }
        return nil
    }

    /// After `commit`: the folded files and temporaries go, the folded pids are forgotten.
    func finishCommitted(_ id: Int, planned: [FileSnapshot], pids: [String], ledger: inout CompactionLedger) throws(CompactionFailure) {
        try stop(.unlinkFiles)
        for file in planned { unlinkat(directory, Self.foldingName(file.name), 0) }
        try stop(.forgetPids)
        let records = pids.map { JournalRecord.forget(pid: $0) } + [.done(pass: id)]
        do { try journal.append(records, ifPresent: true) } catch { throw .journal(error) }
        for record in records { ledger.apply(record) }
    }

    // MARK: Helpers

    /// Whether `swap` happened: the archive holds the new content in a file other than the one
    /// it replaced (the same content in the same file means the new content was the old one).
    func switched(_ swap: JournalRecord.ArchiveSwap) -> Bool {
        guard let archive = (try? FileSnapshot.take(swap.name, in: directory)) ?? nil else { return false }
        return archive.hash == swap.hash && archive.inode != swap.replacedInode
    }

    func archiveHash(_ name: String) -> UInt64? {
        (try? FileSnapshot.take(name, in: directory))??.hash
    }

    func pids(of files: [FileSnapshot]) -> [String] {
        Array(Set(files.compactMap { MetricFileName($0.name)?.pid })).sorted()
    }

    /// Metric files of the directory, archives excluded.
    private func presentFiles() -> [MetricFileName] {
        MetricDirectory.metricFiles(of: directory).map(\.parsed).filter { $0.pid != ArchiveContent.pid }
    }

    func exists(_ name: String) -> Bool {
        inode(of: name) != nil
    }

    /// The inode `name` holds, nil when there is no such name.
    func inode(of name: String) -> UInt64? {
        var info = stat()
        return fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? UInt64(info.st_ino) : nil
    }

    func read(_ name: String) throws(FoldError) -> [UInt8] {
        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw FoldError(file: name, reason: errnoText(errno)) }
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        do { return try FileSnapshot.read(descriptor: fd, name: name, upTo: Int(info.st_size)) } catch {
            throw FoldError(file: name, reason: "\(error)")
        }
    }


    private func stop(_ step: CompactionStep) throws(CompactionFailure) {
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

    var description: String {
        switch self {
        case .journal(let error): return "\(error)"
        case .io(let why): return why
        case .simulatedCrash(let step): return "stopped before \(step.rawValue)"
        }
    }
}
