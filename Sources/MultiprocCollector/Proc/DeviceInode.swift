// MARK: - Which file a mapping or a directory entry is

/// A file as the kernel identifies it: the device it lives on (major:minor) and its inode.
///
/// `/proc/<pid>/maps` names every mapped file this way (`00:1b 3635`), so comparing
/// identities tells whether a process maps one of our files without trusting path names,
/// which a rename, a bind mount or another mount namespace would change.
public struct DeviceInode: Hashable, Sendable, CustomStringConvertible {
    /// The device's major number.
    public var major: UInt32
    /// The device's minor number.
    public var minor: UInt32
    /// The inode number on that device.
    public var inode: UInt64

    /// An identity from its parts.
    public init(major: UInt32, minor: UInt32, inode: UInt64) {
        self.major = major
        self.minor = minor
        self.inode = inode
    }

    /// An identity from `stat`'s `st_dev` (glibc's encoding of major and minor) and `st_ino`.
    public init(device: UInt64, inode: UInt64) {
        major = UInt32(truncatingIfNeeded: ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff))
        minor = UInt32(truncatingIfNeeded: (device & 0xff) | ((device >> 12) & ~0xff))
        self.inode = inode
    }

    /// `major:minor inode` in hex:hex decimal, as `/proc/<pid>/maps` prints it.
    public var description: String {
        "\(String(major, radix: 16)):\(String(minor, radix: 16)) \(inode)"
    }
}
