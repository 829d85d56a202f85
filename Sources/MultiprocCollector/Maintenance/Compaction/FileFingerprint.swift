import Glibc
import MultiprocSupport

// MARK: - What a file held at one moment

/// A file's identity and content at one moment: enough to tell, later, whether anybody
/// touched it in between (the compaction's pid-reuse guard, and the check before a file is
/// deleted).
///
/// Read with `pread`, not a mapping: these are the small files of dead workers, read a couple
/// of times in their life, and a read that cannot fault keeps the compactor simple.
struct FileFingerprint: Hashable, Sendable {
    var name: String
    var device: UInt64
    var inode: UInt64
    var size: Int
    /// `used` from the header (0 when the file is shorter than the header).
    var used: Int
    /// FNV-1a 64 of the bytes `[0, min(used, size))`: entries and values.
    var hash: UInt64

    /// The fingerprint of `name` in `directory` now; nil when it does not exist. Never follows
    /// a symlink; anything but a regular file is reported as `.notRegularFile`.
    static func take(_ name: String, in directory: Int32) throws(FingerprintError) -> FileFingerprint? {
        try read(name, in: directory)?.fingerprint
    }

    /// The fingerprint of `name` and the bytes it was taken from (up to `used`); nil when
    /// there is no such file.
    static func read(_ name: String, in directory: Int32) throws(FingerprintError) -> (fingerprint: FileFingerprint, bytes: [UInt8])? {
        let fd: Int32, info: stat
        do { (fd, info) = try FileContents.openRegular(name, in: directory, flags: O_RDONLY) } catch {
            switch error {
            case .failed(ENOENT): return nil
            case .failed(let code): throw .unreadable(name, errnoText(code))
            case .notRegular: throw .notRegularFile(name)
            }
        }
        defer { close(fd) }
        let bytes = try read(descriptor: fd, name: name, upTo: Int(info.st_size))
        let fingerprint = FileFingerprint(name: name, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int(info.st_size),
                                          used: Self.used(of: bytes), hash: Self.hash(bytes))
        return (fingerprint, bytes)
    }

    /// The file's bytes up to `used` (the whole file when `used` is not sound).
    private static func read(descriptor fd: Int32, name: String, upTo size: Int) throws(FingerprintError) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: EntryParser.headerSize)
        let got = pread(fd, &header, header.count, 0)
        guard got >= 0 else { throw .unreadable(name, errnoText(errno)) }
        guard got == EntryParser.headerSize else { return Array(header[0..<got]) }
        let used = Self.used(of: header)
        // `size` comes from an fstat that a growing file (created empty, then ftruncated) may
        // already have outgrown: never build a range from it.
        let length = used >= EntryParser.headerSize && used <= size ? used : max(size, EntryParser.headerSize)
        var bytes = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, length - done, off_t(done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        if done < length { bytes.removeLast(length - done) }
        return bytes
    }

    static func used(of bytes: [UInt8]) -> Int {
        guard bytes.count >= EntryParser.headerSize else { return 0 }
        return bytes.withUnsafeBytes { EntryParser.readUsed($0) }
    }

    static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// Whether `other` is the same file with the same content.
    func unchanged(as other: FileFingerprint?) -> Bool {
        guard let other else { return false }
        return device == other.device && inode == other.inode && size == other.size && used == other.used && hash == other.hash
    }
}

/// Why a fingerprint could not be taken.
enum FingerprintError: Error, CustomStringConvertible {
    case unreadable(String, String)
    case notRegularFile(String)

    var description: String {
        switch self {
        case .unreadable(let name, let why): return "\(name): \(why)"
        case .notRegularFile(let name): return "\(name): not a regular file"
        }
    }
}
