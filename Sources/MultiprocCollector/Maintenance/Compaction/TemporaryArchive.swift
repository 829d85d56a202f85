import Glibc
import MultiprocSupport

// MARK: - New archive content, invisible until the switch

/// The new content of an archive, waiting for a pass's switch.
///
/// It is written to an unnamed file in the metric directory (`O_TMPFILE`): an app wiping the
/// directory while a pass prepares (`shutil.rmtree`, `os.listdir` + `os.remove`) never sees
/// it, so it can neither make the wipe fail ("directory not empty") nor vanish under it. It
/// gets its temporary name only in the switch, under the scrape lock, right before the commit
/// that names it is journalled (docs/design.md §9, step 4); a crash before that leaves
/// nothing behind. Where `O_TMPFILE` is not supported (or `/proc` is not mounted, to link it),
/// the file is named from the start (a crash then leaves a stray that the next pass deletes).
final class TemporaryArchive {
    /// The unnamed file, or -1 once named.
    private var descriptor: Int32 = -1
    let name: String
    /// The new content's inode: the temporary's now, the archive's after the rename.
    let inode: UInt64
    /// FNV-1a 64 of the content up to `used` (``FileFingerprint/hash``).
    let hash: UInt64

    /// `__O_TMPFILE` with `O_DIRECTORY`, which Swift's Glibc module does not export.
    private static let openTemporary = Int32(0o20_000_000) | O_DIRECTORY

    /// Writes `bytes` (synced) to an unnamed file in `directory` that ``link(in:)`` names `name`.
    init(bytes: [UInt8], name: String, in directory: Int32) throws(CompactionFailure) {
        self.name = name
        hash = FileFingerprint.hash(bytes[0..<FileFingerprint.used(of: bytes)])
        // An unnamed file can only be named through /proc/self/fd: without /proc, name it now.
        var fd = access("/proc/self/fd", F_OK) == 0 ? openat(directory, ".", Self.openTemporary | O_RDWR | O_CLOEXEC, 0o644) : -1
        let named = fd < 0
        if named { fd = openat(directory, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644) }
        guard fd >= 0 else { throw .io("\(name): create: \(errnoText(errno))") }
        if let why = FileContents.write(bytes, to: fd) {
            close(fd)
            throw .io("\(name): write: \(why)")
        }
        var info = stat()
        guard fsync(fd) == 0, fstat(fd, &info) == 0 else {
            close(fd)
            throw .io("\(name): fsync: \(errnoText(errno))")
        }
        inode = UInt64(info.st_ino)
        if named { close(fd) } else { descriptor = fd }
    }

    /// Gives the file its name (already named: nothing to do).
    func link(in directory: Int32) throws(CompactionFailure) {
        guard descriptor >= 0 else { return }
        guard linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", directory, name, AT_SYMLINK_FOLLOW) == 0 else {
            throw .io("\(name): link: \(errnoText(errno))")
        }
        close(descriptor)
        descriptor = -1
    }

    /// Deletes the file: unnamed, by closing it; named, by unlinking the name if it still holds it.
    func discard(in directory: Int32) {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
            return
        }
        var info = stat()
        if fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0, UInt64(info.st_ino) == inode { unlinkat(directory, name, 0) }
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }
}
