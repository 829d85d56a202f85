// MARK: - One line of the compaction journal

/// One record of the journal (``CompactionJournal``): a line `<checksum> <kind> <fields…>`,
/// fields separated by single spaces. File names never hold spaces (they are metric file
/// names, checked before they get here), so no quoting is needed.
///
/// The checksum (FNV-1a 64 of the rest of the line, 16 hex digits) makes a line torn by a
/// crash in the middle of a write detectable: it and everything after it are ignored, as if
/// the write had not happened. The protocol these records serve is docs/design.md §9.
enum JournalRecord: Equatable, Sendable {
    /// `pid` was marked dead at `markedAt` (Unix seconds); its foldable files are the
    /// ``file(pid:_:)`` records that follow.
    case dead(pid: String, markedAt: Double)
    /// A foldable file of dead `pid` as it was when the pid was marked dead.
    case file(pid: String, FileFingerprint)
    /// `pid`, recorded dead at `markedAt`, is no longer dead: its files changed (a reused pid),
    /// are gone, or were folded. A later death of the pid (another `markedAt`) is not forgotten.
    case forget(pid: String, markedAt: Double)
    /// A file that pass `pass` folds into `archive`, as the new archive content holds it. Only
    /// the ``commit(pass:_:)`` of that archive, appended in the same write, makes it count.
    case fold(pass: Int, archive: String, FileFingerprint)
    /// Pass `pass` is about to rename its temporary (``Compactor/temporaryName(pass:archive:)``)
    /// over `swap.name`: once the archive holds the new content, the ``fold(pass:archive:_:)``
    /// files before it are to be deleted; until then the temporary is.
    case commit(pass: Int, ArchiveSwap)
    /// Pass `pass` is settled: every archive it committed is in place and its files are gone,
    /// or it never switched and its temporaries are gone.
    case done(pass: Int)

    /// An archive's replacement in a pass.
    struct ArchiveSwap: Equatable, Sendable {
        /// The archive's name (`counter_0.db`, …).
        var name: String
        /// The new content's inode (the temporary's, then the archive's).
        var newInode: UInt64
        /// FNV-1a 64 of the new content up to `used` (see ``FileFingerprint/hash``).
        var hash: UInt64
        /// How many ``fold(pass:archive:_:)`` records precede this one.
        var files: Int
    }

    // MARK: Text

    var line: String {
        let body = fields.joined(separator: " ")
        return Self.checksum(body) + " " + body + "\n"
    }

    private var fields: [String] {
        switch self {
        case .dead(let pid, let at): return ["dead", pid, String(at)]
        case .file(let pid, let f): return ["file", pid] + Self.fields(f)
        case .forget(let pid, let at): return ["forget", pid, String(at)]
        case .fold(let id, let archive, let f): return ["fold", String(id), archive] + Self.fields(f)
        case .commit(let id, let s): return ["commit", String(id), s.name, String(s.newInode), Self.hex(s.hash), String(s.files)]
        case .done(let id): return ["done", String(id)]
        }
    }

    /// Parses one line (without its newline); nil when torn, not a record, or naming anything
    /// but what the compactor itself writes (a checksum is no signature: whoever can write the
    /// directory can write a line, and names from it become paths).
    init?(line: Substring) {
        guard let record = Self.parse(line), record.namesAreOurs else { return nil }
        self = record
    }

    /// Whether every name and pid is one the compactor could have written: metric file names of
    /// the directory, the seven archive names, and the temporary names it derives from them.
    private var namesAreOurs: Bool {
        func isPid(_ pid: String) -> Bool { !pid.isEmpty && pid.count <= MetricFileName.maxPidDigits && pid.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
        switch self {
        case .dead(let pid, _), .forget(let pid, _): return isPid(pid)
        case .file(let pid, let f): return isPid(pid) && MetricFileName(f.name)?.pid == pid
        case .fold(_, let archive, let f):
            guard let parsed = MetricFileName(f.name) else { return false }
            return ArchiveContent.target(of: parsed)?.name == archive
        case .commit(_, let s): return ArchiveContent.names.contains(s.name) && s.files >= 0
        case .done: return true
        }
    }

    /// Whether `line` is whole: its checksum matches the rest.
    static func isIntact(_ line: Substring) -> Bool {
        guard let space = line.firstIndex(of: " ") else { return false }
        return String(line[..<space]) == Self.checksum(String(line[line.index(after: space)...]))
    }

    private static func parse(_ line: Substring) -> JournalRecord? {
        guard isIntact(line), let space = line.firstIndex(of: " ") else { return nil }
        let body = line[line.index(after: space)...]
        let f = body.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard let kind = f.first else { return nil }
        let rest = Array(f.dropFirst())
        switch (kind, rest.count) {
        case ("dead", 2): guard let at = Double(rest[1]) else { return nil }; return .dead(pid: rest[0], markedAt: at)
        case ("file", 7): guard let s = Self.fingerprint(rest[1...]) else { return nil }; return .file(pid: rest[0], s)
        case ("forget", 2): guard let at = Double(rest[1]) else { return nil }; return .forget(pid: rest[0], markedAt: at)
        case ("fold", 8):
            guard let id = Int(rest[0]), let s = Self.fingerprint(rest[2...]) else { return nil }
            return .fold(pass: id, archive: rest[1], s)
        case ("commit", 5):
            guard let id = Int(rest[0]), let inode = UInt64(rest[2]), let hash = UInt64(rest[3], radix: 16), let files = Int(rest[4]) else { return nil }
            return .commit(pass: id, ArchiveSwap(name: rest[1], newInode: inode, hash: hash, files: files))
        case ("done", 1): guard let id = Int(rest[0]) else { return nil }; return .done(pass: id)
        default: return nil
        }
    }

    private static func fields(_ s: FileFingerprint) -> [String] {
        [s.name, String(s.device), String(s.inode), String(s.size), String(s.used), hex(s.hash)]
    }

    private static func fingerprint(_ f: ArraySlice<String>) -> FileFingerprint? {
        let f = Array(f)
        guard f.count == 6, let device = UInt64(f[1]), let inode = UInt64(f[2]), let size = Int(f[3]),
              let used = Int(f[4]), let hash = UInt64(f[5], radix: 16) else { return nil }
        return FileFingerprint(name: f[0], device: device, inode: inode, size: size, used: used, hash: hash)
    }

    private static func hex(_ v: UInt64) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    static func checksum(_ body: String) -> String {
        hex(FileFingerprint.hash(body.utf8))
    }
}
