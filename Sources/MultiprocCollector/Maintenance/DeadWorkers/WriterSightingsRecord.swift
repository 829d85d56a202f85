import Glibc
import MultiprocSupport

// MARK: - Sightings kept for the next process

/// `multiproc-exporter.writers` in the metric directory: the ``WriterSightings`` of the last
/// check, so that a restarted `serve`, or the next `mark-dead --auto` from cron, still knows
/// which pids it saw written by a process of its namespace.
///
/// Why a file of its own, not a line in the compaction journal: the journal records deaths and
/// passes that must never be lost; this is a hint whose loss only makes the next process wait
/// for a writer to be seen again. So it is rewritten in place, without fsync or lock, and is
/// believed only when whole: the last line is a checksum of the others, and anything else (a
/// write cut short, two processes writing at once, a hand edit) is read as no sightings at all.
/// It is believed only by a process that reads `/proc` of the same pid namespace in the same
/// boot (``ProcessTable/namespaceIdentity()``, the second line), and only for the very files
/// it names (``WriterSightings``): a wipe of the directory leaves it describing nothing.
///
/// Like the journal it is a plain file that prometheus_client ignores (it reads `*.db` only)
/// and every wipe idiom removes or leaves harmless: it is written only when what it says
/// changed, created only when a new writer was seen (a wipe in progress only makes sightings
/// shrink, so the record never comes back under an `rmtree` or before an `rmdir`), and never
/// removed by the exporter (a `listdir` + `remove` wipe would then find it gone): when it would
/// say nothing it is emptied, which reads as no sightings.
enum WriterSightingsRecord {
    static let fileName = "multiproc-exporter.writers"
    private static let header = "multiproc-exporter writers 1"

    /// The sightings recorded in `directory` for `namespace`; none when there is no record,
    /// when it is not whole, or when it was written in another namespace or boot.
    static func load(directory: Int32, namespace: String) -> WriterSightings {
        guard let fd = try? FileContents.openRegular(fileName, in: directory, flags: O_RDONLY).fd else { return WriterSightings() }
        defer { close(fd) }
        guard let bytes = try? FileContents.read(descriptor: fd, limit: 64 << 20) else { return WriterSightings() }
        return parse(String(decoding: bytes, as: UTF8.self), namespace: namespace) ?? WriterSightings()
    }

    /// Writes `sightings` for `namespace` (an empty record when there are none), creating the
    /// record only when `create` (something new was seen). Returns why it could not, or nil.
    static func save(_ sightings: WriterSightings, directory: Int32, namespace: String, create: Bool) -> String? {
        let text = sightings.isEmpty ? [] : Array(render(sightings, namespace: namespace).utf8)
        let creates = create && !sightings.isEmpty
        let fd: Int32
        do { fd = try FileContents.openRegular(fileName, in: directory, flags: O_WRONLY | O_TRUNC | (creates ? O_CREAT : 0)).fd } catch {
            if error == .failed(ENOENT), !creates { return nil }  // gone (a wipe): it stays gone
            return "write \(fileName): \(error)"
        }
        defer { close(fd) }
        return FileContents.write(text, to: fd).map { "write \(fileName): \($0)" }
    }

    // MARK: The format

    /// `header`, `namespace <identity>`, one `<pid> <major>:<minor> <inode> <created> <name>`
    /// line per file (pids and names sorted), `sum <FNV-1a 64 of everything before, hex>`.
    static func render(_ sightings: WriterSightings, namespace: String) -> String {
        var text = "\(header)\nnamespace \(namespace)\n"
        for pid in sightings.files.keys.sorted() {
            for file in sightings.files[pid]!.sorted(by: { $0.name < $1.name }) {
                let id = file.identity
                text += "\(pid) \(id.major):\(id.minor) \(id.inode) \(file.created) \(file.name)\n"
            }
        }
        return text + "sum \(String(checksum(text), radix: 16))\n"
    }

    /// The sightings of a whole record for `namespace`; nil for anything else.
    static func parse(_ text: String, namespace: String) -> WriterSightings? {
        guard text.hasSuffix("\n"), let sumStart = text.dropLast().lastIndex(of: "\n").map(text.index(after:)) else { return nil }
        let body = String(text[..<sumStart])
        guard text[sumStart...] == "sum \(String(checksum(body), radix: 16))\n" else { return nil }
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        guard lines.count >= 2, lines[0] == header, lines[1] == "namespace \(namespace)" else { return nil }
        var sightings = WriterSightings()
        for line in lines.dropFirst(2) {
            let fields = line.split(separator: " ")
            let device = fields.count == 5 ? fields[1].split(separator: ":") : []
            guard device.count == 2, let pid = Int(fields[0]), let major = UInt32(device[0]), let minor = UInt32(device[1]),
                  let inode = UInt64(fields[2]), let created = Int64(fields[3]),
                  let name = MetricFileName(String(fields[4])), Int(name.pid) == pid else { return nil }
            sightings.saw(pid, writing: [.init(name: String(fields[4]), identity: DeviceInode(major: major, minor: minor, inode: inode),
                                               created: created)])
        }
        return sightings
    }

    private static func checksum(_ text: String) -> UInt64 { FileFingerprint.hash(text.utf8) }
}
