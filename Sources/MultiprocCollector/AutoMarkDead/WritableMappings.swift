// MARK: - The files a process maps

/// The files one process maps, read from `/proc/<pid>/maps`.
///
/// prometheus_client keeps every metric file of its process mapped from the first value it
/// stores until the process exits, so "this process maps that file" is the direct evidence
/// that the file is in use.
///
/// Files are matched by device and inode. On overlayfs (a directory inside a container's
/// root file system) `maps` shows the underlying file system's device while `stat` shows the
/// overlay's, so an entry whose inode matches and whose path ends in the file's own name
/// counts too.
public struct WritableMappings: Sendable, Equatable {
    /// Every mapped file's identity.
    public private(set) var identities: Set<DeviceInode> = []
    /// Inode and last path component of every mapped file (the overlayfs fallback).
    private var namedInodes: Set<NamedInode> = []

    private struct NamedInode: Hashable, Sendable {
        var inode: UInt64
        var name: Substring
    }

    /// Parses the text of `/proc/<pid>/maps`: `start-end perms offset major:minor inode path`.
    /// Anonymous mappings (inode 0) and malformed lines are skipped.
    public init(parsing text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5, let inode = UInt64(fields[4]), inode != 0 else { continue }
            let device = fields[3].split(separator: ":")
            guard device.count == 2, let major = UInt32(device[0], radix: 16), let minor = UInt32(device[1], radix: 16) else { continue }
            identities.insert(DeviceInode(major: major, minor: minor, inode: inode))
            if fields.count == 6 {
                var path = fields[5].drop { $0 == " " }
                if path.hasSuffix(" (deleted)") { path = path.dropLast(" (deleted)".count) }
                if let slash = path.lastIndex(of: "/") { path = path[path.index(after: slash)...] }
                namedInodes.insert(NamedInode(inode: inode, name: path))
            }
        }
    }

    /// Whether the process maps the file called `name` with identity `identity`.
    public func maps(_ identity: DeviceInode, name: String) -> Bool {
        identities.contains(identity) || namedInodes.contains(NamedInode(inode: identity.inode, name: Substring(name)))
    }
}
