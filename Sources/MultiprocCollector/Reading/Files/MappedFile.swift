import Glibc

/// Identity of a file across scrapes: a new inode under the same name is a new file.
struct FileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
}

/// A read-only shared mapping of one metric file, opened without following symlinks.
///
/// The descriptor is closed right after mapping (the mapping keeps the file alive), so
/// thousands of files cost no descriptors. Reads must go through ``SigbusGuard``.
final class MappedFile {
    let base: UnsafeRawPointer
    /// Bytes mapped: the file size when it was mapped.
    let length: Int
    let identity: FileIdentity
    /// The file's modification time when it was mapped, in nanoseconds (see ``FileChangeWatch``).
    let modified: Int

    init(base: UnsafeRawPointer, length: Int, identity: FileIdentity, modified: Int = 0) {
        self.base = base
        self.length = length
        self.identity = identity
        self.modified = modified
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), length)
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: length) }

    /// Lets go of the pages past the header in this process (they stay in the page cache):
    /// for files whose values are kept elsewhere and that are only watched through `used`.
    /// Touching them later simply maps them again.
    func releasePagesAfterHeader() {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard length > page else { return }
        madvise(UnsafeMutableRawPointer(mutating: base) + page, length - page, Int32(MADV_DONTNEED))
    }

    /// Largest size mapped: `used` is an int32, so nothing past 2 GiB is ever read.
    static let maxMappedLength = Int(Int32.max)

    enum OpenResult {
        case mapped(MappedFile)
        case empty(FileIdentity)
        case missing
        case problem(FileProblem.Reason, String)
    }

    /// Opens `name` relative to the directory descriptor `directory` and maps it.
    static func open(directory: Int32, name: String) -> OpenResult {
        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        if fd < 0 {
            let code = errno
            switch code {
            case ENOENT: return .missing
            case ELOOP: return .problem(.symlink, "is a symbolic link; not followed")
            default: return .problem(.unreadable, "open failed: \(errnoText(code))")
            }
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .problem(.unreadable, "fstat failed: \(errnoText(errno))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            let what = (info.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "not a regular file"
            return .problem(.notRegularFile, "is \(what)")
        }
        let identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        let size = min(Int(info.st_size), maxMappedLength)
        if size <= 0 { return .empty(identity) }
        guard let raw = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), raw != MAP_FAILED else {
            return .problem(.unreadable, "mmap failed: \(errnoText(errno))")
        }
        return .mapped(MappedFile(base: UnsafeRawPointer(raw), length: size, identity: identity, modified: info.modifiedNanoseconds))
    }
}

func errnoText(_ code: Int32) -> String {
    guard let s = strerror(code) else { return "errno \(code)" }
    return String(cString: s)
}

extension stat {
    /// `st_mtim` in nanoseconds since the epoch.
    var modifiedNanoseconds: Int { Int(st_mtim.tv_sec) * 1_000_000_000 + Int(st_mtim.tv_nsec) }
}
