import Glibc

// MARK: - statx, for birth times

/// What `statx(2)` says about one file: identity, owner, and birth and change times.
///
/// Birth time (`STATX_BTIME`) is what tells a reused pid from its first holder: tmpfs and ext4
/// record it (Linux 5.x and later); where the file system does not, ``birth`` is nil and the
/// caller falls back to the time it first saw the file.
///
/// Swift's Glibc module does not declare `statx` (glibc hides it behind `_GNU_SOURCE`), so
/// the function is looked up with `dlsym` and its result read at the offsets of the kernel's
/// `struct statx` (a stable ABI: include/uapi/linux/stat.h). Without it, `fstatat` gives
/// everything but the birth time.
struct FileStatus: Equatable {
    var identity: DeviceInode
    var owner: UInt32
    var isRegular: Bool
    /// Wall-clock seconds; nil when the file system records no birth time.
    var birth: Double?
    /// Wall-clock seconds of the last status change (creation, truncate, chmod...): never
    /// before the birth, so an upper bound for it wherever birth is unknown.
    var statusChange: Double

    private typealias StatxFunction = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UInt32, UnsafeMutableRawPointer) -> Int32
    private static let statxFunction: StatxFunction? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "statx") else { return nil }
        return unsafeBitCast(symbol, to: StatxFunction.self)
    }()

    private static let basicStats: UInt32 = 0x7ff  // STATX_BASIC_STATS
    private static let birthTimeBit: UInt32 = 0x800  // STATX_BTIME

    /// The status of `name` in the directory open as `directory`, symbolic links not followed;
    /// nil when it cannot be read (vanished, permissions).
    static func of(_ name: String, in directory: Int32) -> FileStatus? {
        if let statx = statxFunction {
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 8)
            defer { buffer.deallocate() }
            guard statx(directory, name, AT_SYMLINK_NOFOLLOW, basicStats | birthTimeBit, buffer) == 0 else { return nil }
            func time(_ offset: Int) -> Double {
                Double(buffer.load(fromByteOffset: offset, as: Int64.self)) + Double(buffer.load(fromByteOffset: offset + 8, as: UInt32.self)) / 1e9
            }
            let mask = buffer.load(fromByteOffset: 0, as: UInt32.self)
            let birth = mask & birthTimeBit != 0 ? time(80) : nil
            return FileStatus(
                identity: DeviceInode(major: buffer.load(fromByteOffset: 136, as: UInt32.self),
                                       minor: buffer.load(fromByteOffset: 140, as: UInt32.self),
                                       inode: buffer.load(fromByteOffset: 32, as: UInt64.self)),
                owner: buffer.load(fromByteOffset: 20, as: UInt32.self),
                isRegular: UInt32(buffer.load(fromByteOffset: 28, as: UInt16.self)) & UInt32(S_IFMT) == UInt32(S_IFREG),
                birth: birth.flatMap { $0 > 0 ? $0 : nil }, statusChange: time(96))
        }
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return FileStatus(identity: DeviceInode(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)), owner: info.st_uid,
                          isRegular: info.st_mode & S_IFMT == S_IFREG, birth: nil,
                          statusChange: Double(info.st_ctim.tv_sec) + Double(info.st_ctim.tv_nsec) / 1e9)
    }
}
