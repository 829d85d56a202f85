import Glibc
import MultiprocSupport

// MARK: - The journal file: dead pids and compaction passes, in the metric directory

/// `multiproc-exporter.journal` in the metric directory: the dead pids and the archive commits
/// of compaction passes, as an append-only list of ``JournalRecord`` lines (docs/design.md §9,
/// "State on disk"). In the directory because it must outlive the exporter and go with the
/// directory when the app wipes it; prometheus_client reads only `*.db` files.
struct CompactionJournal {
    static let fileName = "multiproc-exporter.journal"
    private static let temporaryName = "multiproc-exporter.journal.tmp"

    /// The directory descriptor (owned by the caller, valid for every call).
    let directory: Int32

    /// Appends `records`, durably (fsync), in one write under the journal's `flock`. Only a
    /// death creates a missing journal (a file put back into a directory the app is wiping could
    /// make the wipe fail); when it is gone, `ifPresent` records are dropped and others fail
    /// with ``JournalError/vanished``.
    func append(_ records: [JournalRecord], ifPresent: Bool = false) throws(JournalError) {
        guard !records.isEmpty else { return }
        let text = Array(records.map(\.line).joined().utf8)
        let recordsADeath = records.contains { if case .dead = $0 { return true } else { return false } }
        let appended = try withLockedJournal(create: recordsADeath) { fd throws(JournalError) in
            try dropTornTail(fd)
            if let why = FileContents.write(text, to: fd) { throw .io("append: \(why)") }
            guard fsync(fd) == 0 else { throw .io("fsync: \(errnoText(errno))") }
        }
        if !appended, !ifPresent { throw .vanished }
    }

    /// A write cut short (ENOSPC, EIO, a kill inside a write) leaves a line without its newline,
    /// which would hide every later record behind a failed checksum. It was never acted on: it
    /// goes. Under the lock, before appending.
    private func dropTornTail(_ fd: Int32) throws(JournalError) {
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return }
        var last: UInt8 = 0
        guard pread(fd, &last, 1, size - 1) == 1 else { throw .io("read: \(errnoText(errno))") }
        guard last != UInt8(ascii: "\n") else { return }
        var keep = size - 1
        var chunk = [UInt8](repeating: 0, count: 4096)
        while keep > 0 {
            let start = max(0, keep - off_t(chunk.count))
            let n = pread(fd, &chunk, Int(keep - start), start)
            guard n > 0 else { throw .io("read: \(errnoText(errno))") }
            if let newline = chunk[0..<n].lastIndex(of: UInt8(ascii: "\n")) {
                keep = start + off_t(newline) + 1
                break
            }
            keep = start
        }
        guard ftruncate(fd, keep) == 0 else { throw .io("truncate a torn line: \(errnoText(errno))") }
    }

    /// Whether the journal exists.
    var exists: Bool {
        var info = stat()
        return fstatat(directory, Self.fileName, &info, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// The records up to the first torn line (one that fails its checksum), skipping intact
    /// lines that name anything the compactor never writes, and how many lines were read.
    func load() throws(JournalError) -> (records: [JournalRecord], lines: Int) {
        let fd: Int32
        do { fd = try FileContents.openRegular(Self.fileName, in: directory, flags: O_RDONLY).fd } catch {
            if error == .failed(ENOENT) { return ([], 0) }
            throw .io("open: \(error)")
        }
        defer { close(fd) }
        let bytes: [UInt8]
        do { bytes = try FileContents.read(descriptor: fd) } catch { throw .io("read: \(error)") }
        var records: [JournalRecord] = []
        var lines = 0
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            if let record = JournalRecord(line: line) {
                records.append(record)
            } else if !JournalRecord.isIntact(line) {
                break  // torn: nothing after it was acted on
            }  // intact but naming what the compactor never writes: that line alone is ignored
            lines += 1
        }
        return (records, lines)
    }

    /// Rewrites the journal with only what it still says (``CompactionLedger/records``) when
    /// it has grown to more than `factor` times that. The journal is read again under the
    /// lock, so a record appended meanwhile (a concurrent mark-dead) is kept.
    func rewriteIfLong(factor: Int = 4, minimumLines: Int = 64) throws(JournalError) {
        try withLockedJournal(create: false) { locked throws(JournalError) in
            let (records, lines) = try load()
            let kept = CompactionLedger(records).records
            guard lines > minimumLines, lines > factor * kept.count else { return }
            try replace(locked, with: kept)
        }
    }

    /// Replaces the journal, open and locked as `locked`, with `records` (temporary file, fsync,
    /// rename), unless the app deleted it meanwhile: a wiped journal never comes back.
    private func replace(_ locked: Int32, with records: [JournalRecord]) throws(JournalError) {
        let fd = openat(directory, Self.temporaryName, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("create \(Self.temporaryName): \(errnoText(errno))") }
        defer { close(fd) }
        var opened = stat(), named = stat()
        guard FileContents.write(Array(records.map(\.line).joined().utf8), to: fd) == nil, fsync(fd) == 0, fstat(locked, &opened) == 0,
              fstatat(directory, Self.fileName, &named, AT_SYMLINK_NOFOLLOW) == 0, named.st_ino == opened.st_ino,
              renameat(directory, Self.temporaryName, directory, Self.fileName) == 0 else {
            let why = errnoText(errno)
            unlinkat(directory, Self.temporaryName, 0)
            throw .io("rewrite: \(why)")
        }
        fsync(directory)
    }

    /// Runs `body` with the journal open for appending and exclusively locked; returns whether
    /// it ran (not when the journal does not exist and `create` is false). A journal replaced
    /// while waiting for the lock is opened again: nothing goes to a file without the name.
    @discardableResult
    private func withLockedJournal(create: Bool, _ body: (Int32) throws(JournalError) -> Void) throws(JournalError) -> Bool {
        for _ in 0..<8 {
            let fd: Int32
            do { fd = try FileContents.openRegular(Self.fileName, in: directory, flags: O_RDWR | O_APPEND | (create ? O_CREAT : 0)).fd } catch {
                if error == .failed(ENOENT), !create { return false }  // no journal
                throw .io("open: \(error)")
            }
            defer { close(fd) }
            while flock(fd, LOCK_EX) != 0 {
                guard errno == EINTR else { throw .io("flock: \(errnoText(errno))") }
            }
            var opened = stat(), named = stat()
            guard fstat(fd, &opened) == 0 else { throw .io("fstat: \(errnoText(errno))") }
            if fstatat(directory, Self.fileName, &named, AT_SYMLINK_NOFOLLOW) == 0, named.st_ino == opened.st_ino {
                try body(fd)
                return true  // closing the descriptor releases the lock
            }
        }
        throw .io("the journal keeps being replaced")
    }
}

/// Why the journal could not be read or written.
struct JournalError: Error, CustomStringConvertible {
    let reason: String
    static func io(_ reason: String) -> JournalError { JournalError(reason: reason) }
    /// The journal disappeared in the middle of something it records (the directory was wiped).
    static let vanished = JournalError(reason: "gone in the middle of a pass (the directory was wiped?)")
    var description: String { "\(CompactionJournal.fileName): \(reason)" }
}
