import Glibc

/// The metric directory, opened once per scrape; files are opened relative to it so a
/// directory renamed or replaced mid-scrape cannot send reads elsewhere.
struct MetricDirectory: ~Copyable {
    let descriptor: Int32

    /// A metric file as a listing found it: a directory entry whose name is a metric file name.
    /// (An *entry* is otherwise always one key and its value inside a `.db` file.)
    struct ListedFile {
        var name: String
        var parsed: MetricFileName
        /// Inode number as reported by `readdir` (compared only with itself across scrapes).
        var inode: UInt64
        var isSymlink: Bool
    }

    init(path: String) throws(CollectorError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            switch code {
            case ENOENT: throw .directoryMissing(path: path)
            case ENOTDIR: throw .notADirectory(path: path)
            case EACCES, EPERM: throw .permissionDenied(path: path)
            default: throw .directoryUnreadable(path: path, reason: errnoText(code))
            }
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// What identifies the directory's contents: inode and modification time. The kernel
    /// updates the mtime on every create, unlink and rename in it (not on writes to files).
    struct Version: Equatable {
        var device: UInt64
        var inode: UInt64
        var mtimeSeconds: Int
        var mtimeNanoseconds: Int
    }

    func version() -> Version? {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return nil }
        return Version(device: UInt64(info.st_dev), inode: UInt64(info.st_ino),
                       mtimeSeconds: Int(info.st_mtim.tv_sec), mtimeNanoseconds: Int(info.st_mtim.tv_nsec))
    }

    /// The kernel's coarse clock, the one it stamps mtimes with.
    static func coarseNow() -> (seconds: Int, nanoseconds: Int) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &now)
        return (Int(now.tv_sec), Int(now.tv_nsec))
    }

    /// Names in the directory that are not metric files (for `check`): skipped by every scrape.
    func otherNames() -> [String] {
        names().filter { MetricFileName($0) == nil }
    }

    /// Every name in the directory but `.` and `..`, in `readdir` order.
    func names() -> [String] {
        var names: [String] = []
        forEachDirectoryEntry { name, _ in
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    private func forEachDirectoryEntry(_ body: (String, UnsafeMutablePointer<dirent>) -> Void) {
        let copy = dup(descriptor)
        guard copy >= 0, let dir = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            return
        }
        defer { closedir(dir) }
        rewinddir(dir)
        while let raw = readdir(dir) {
            let name = withUnsafeBytes(of: &raw.pointee.d_name) { buffer in
                String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
            }
            body(name, raw)
        }
    }

    /// Takes a shared `flock` on the directory until it is closed, as every scrape does (see
    /// ``CacheState/refresh(path:newlyDead:sharedLock:)``): waits while a compaction pass's
    /// switch holds it exclusively; a file system without `flock` (some network ones) simply
    /// goes unlocked.
    func lockShared() {
        while flock(descriptor, LOCK_SH) != 0, errno == EINTR {}
    }

    /// Takes an exclusive `flock` on the directory open as `descriptor` if nobody holds one
    /// (true), without waiting. True as well where the file system has no `flock`.
    static func tryLockExclusive(_ descriptor: Int32) -> Bool {
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            return errno != EWOULDBLOCK
        }
        return true
    }

    /// Lets go of a `flock` on the directory open as `descriptor` before it is closed.
    static func unlock(_ descriptor: Int32) {
        flock(descriptor, LOCK_UN)
    }

    /// The metric files of the directory open as `descriptor` (which stays the caller's).
    static func metricFiles(of descriptor: Int32) -> [ListedFile] {
        let copy = dup(descriptor)
        guard copy >= 0 else { return [] }
        return MetricDirectory(adopting: copy).metricFiles()
    }

    /// The names that are not metric files in the directory open as `descriptor`.
    static func otherNames(of descriptor: Int32) -> [String] {
        let copy = dup(descriptor)
        guard copy >= 0 else { return [] }
        return MetricDirectory(adopting: copy).otherNames()
    }

    /// Takes ownership of an open directory descriptor.
    private init(adopting descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Metric files in `readdir` order, the order Python's `glob` merges them in (which
    /// decides float rounding of sums and ties). Other names are skipped without a look.
    func metricFiles() -> [ListedFile] {
        var files: [ListedFile] = []
        forEachDirectoryEntry { name, raw in
            // Metric file names are ASCII, so a name repaired by the UTF-8 decode never parses.
            guard let parsed = MetricFileName(name) else { return }
            files.append(ListedFile(name: name, parsed: parsed, inode: UInt64(raw.pointee.d_ino),
                                    isSymlink: raw.pointee.d_type == UInt8(DT_LNK)))
        }
        return files
    }
}
