// MARK: - One line of the compaction journal

/// One record of the journal (``CompactionJournal``): a line `<checksum> <kind> <fields…>`,
/// fields separated by single spaces. File names never hold spaces (they are metric file
/// names, checked before they get here), so no quoting is needed.
///
/// The checksum (FNV-1a 64 of the rest of the line, 16 hex digits) makes a line torn by a
/// crash in the middle of a write detectable: it and everything after it are ignored, as if
/// the write had not happened (every step the journal records is written before it is done).
enum JournalRecord: Equatable, Sendable {
    /// `pid` was marked dead at `markedAt` (Unix seconds); its foldable files are the
    /// ``file(pid:_:)`` records that follow.
    case dead(pid: String, markedAt: Double)
    /// A foldable file of dead `pid` as it was when the pid was marked dead.
    case file(pid: String, FileSnapshot)
    /// `pid` is no longer dead: its files changed (a reused pid) or are gone.
    case forget(pid: String)
    /// Pass `id` starts: the ``planned(pass:_:)`` and ``archive(pass:_:)`` records that follow
    /// describe it, ``ready(pass:)`` closes the description.
    case begin(pass: Int)
    /// A file pass `pass` folds, as verified before the pass.
    case planned(pass: Int, FileSnapshot)
    /// An archive pass `pass` writes: its new content waits in `temporary`.
    case archive(pass: Int, ArchiveSwap)
    /// A metric file outside pass `pass` (`name`, with its inode when planned) whose deletion
    /// means the app wiped the directory (see ``Compactor/deletion(in:)``).
    case witness(pass: Int, name: String, inode: UInt64)
    /// Pass `pass` is fully described; its temporary files are written and synced.
    case ready(pass: Int)
    /// Pass `pass` switched every archive: its planned files are folded (delete what is left of them).
    case commit(pass: Int)
    /// Pass `pass` was undone: nothing it planned is folded.
    case abort(pass: Int)
    /// Committed pass `pass` is cleaned up after: its folded files are gone.
    case done(pass: Int)

    /// An archive's replacement in a pass.
    struct ArchiveSwap: Equatable, Sendable {
        /// The archive's name (`counter_0.db`, …).
        var name: String
        /// Where the new content waits until the switch.
        var temporary: String
        /// FNV-1a 64 of the new content up to `used` (see ``FileSnapshot/hash``).
        var hash: UInt64
        /// The inode of the archive the new one replaces (nil: there was none).
        var replacedInode: UInt64?
    }

    // MARK: Text

    var line: String {
        let body = fields.joined(separator: " ")
        return Self.checksum(body) + " " + body + "\n"
    }

    private var fields: [String] {
        switch self {
        case .dead(let pid, let at): return ["dead", pid, String(at)]
        case .file(let pid, let s): return ["file", pid] + Self.fields(s)
        case .forget(let pid): return ["forget", pid]
        case .begin(let id): return ["begin", String(id)]
        case .planned(let id, let s): return ["planned", String(id)] + Self.fields(s)
        case .archive(let id, let a):
            return ["archive", String(id), a.name, a.temporary, Self.hex(a.hash), a.replacedInode.map { String($0) } ?? "-"]
        case .witness(let id, let name, let inode): return ["witness", String(id), name, String(inode)]
        case .ready(let id): return ["ready", String(id)]
        case .commit(let id): return ["commit", String(id)]
        case .abort(let id): return ["abort", String(id)]
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
        func isMetricFile(_ name: String) -> Bool { MetricFileName(name) != nil }
        switch self {
        case .dead(let pid, _), .forget(let pid): return isPid(pid)
        case .file(let pid, let s): return isPid(pid) && isMetricFile(s.name) && MetricFileName(s.name)!.pid == pid
        case .planned(_, let s): return isMetricFile(s.name)
        case .witness(_, let name, _): return isMetricFile(name)
        case .archive(let id, let a):
            return ArchiveContent.names.contains(a.name) && a.temporary == Compactor.temporaryName(pass: id, archive: a.name)
        case .begin, .ready, .commit, .abort, .done: return true
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
        case ("file", 7): guard let s = Self.snapshot(rest[1...]) else { return nil }; return .file(pid: rest[0], s)
        case ("forget", 1): return .forget(pid: rest[0])
        case ("begin", 1): guard let id = Int(rest[0]) else { return nil }; return .begin(pass: id)
        case ("planned", 7):
            guard let id = Int(rest[0]), let s = Self.snapshot(rest[1...]) else { return nil }
            return .planned(pass: id, s)
        case ("archive", 5):
            guard let id = Int(rest[0]), let hash = UInt64(rest[3], radix: 16) else { return nil }
            let replaced = rest[4] == "-" ? nil : UInt64(rest[4])
            if rest[4] != "-", replaced == nil { return nil }
            return .archive(pass: id, ArchiveSwap(name: rest[1], temporary: rest[2], hash: hash, replacedInode: replaced))
        case ("witness", 3):
            guard let id = Int(rest[0]), let inode = UInt64(rest[2]) else { return nil }
            return .witness(pass: id, name: rest[1], inode: inode)
        case ("ready", 1): guard let id = Int(rest[0]) else { return nil }; return .ready(pass: id)
        case ("commit", 1): guard let id = Int(rest[0]) else { return nil }; return .commit(pass: id)
        case ("abort", 1): guard let id = Int(rest[0]) else { return nil }; return .abort(pass: id)
        case ("done", 1): guard let id = Int(rest[0]) else { return nil }; return .done(pass: id)
        default: return nil
        }
    }

    private static func fields(_ s: FileSnapshot) -> [String] {
        [s.name, String(s.device), String(s.inode), String(s.size), String(s.used), hex(s.hash)]
    }

    private static func snapshot(_ f: ArraySlice<String>) -> FileSnapshot? {
        let f = Array(f)
        guard f.count == 6, let device = UInt64(f[1]), let inode = UInt64(f[2]), let size = Int(f[3]),
              let used = Int(f[4]), let hash = UInt64(f[5], radix: 16) else { return nil }
        return FileSnapshot(name: f[0], device: device, inode: inode, size: size, used: used, hash: hash)
    }

    private static func hex(_ v: UInt64) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    static func checksum(_ body: String) -> String {
        hex(FileSnapshot.hash(Array(body.utf8)))
    }
}
