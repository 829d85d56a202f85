import Glibc
import MultiprocSupport

// MARK: - Which files running processes have mapped

/// Scans `/proc/<pid>/maps` of every visible process for some files (by device and inode):
/// a worker writes its metric files through mappings, so a file some process maps is in use,
/// whatever its pid says.
enum ProcessMaps {
    /// The inodes among `files` that some process maps, or nil when no other process's maps
    /// can be read (another pid namespace, `hidepid`): then nothing can be concluded.
    static func mapped(_ files: [(device: UInt64, inode: UInt64)], procRoot: String = "/proc") -> Set<UInt64>? {
        guard !files.isEmpty else { return [] }
        let wanted = Set(files.map { MapsKey(device: $0.device, inode: $0.inode) })
        guard let dir = opendir(procRoot) else { return nil }
        defer { closedir(dir) }
        let me = getpid()
        var found = Set<UInt64>()
        var readOthers = false
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = Int32(name), pid != me, let text = FileContents.text("\(procRoot)/\(name)/maps", limit: 64 << 20) else { continue }
            readOthers = true
            for line in text.split(separator: "\n") {
                // address perms offset dev inode pathname
                let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
                guard fields.count >= 5, let inode = UInt64(fields[4]), inode != 0 else { continue }
                let dev = fields[3].split(separator: ":")
                guard dev.count == 2, let major = UInt64(dev[0], radix: 16), let minor = UInt64(dev[1], radix: 16) else { continue }
                let key = MapsKey(major: major, minor: minor, inode: inode)
                if wanted.contains(key) { found.insert(inode) }
            }
        }
        return readOthers ? found : nil
    }

    /// A device and inode as `maps` prints them (major:minor in hex).
    private struct MapsKey: Hashable {
        var major: UInt64
        var minor: UInt64
        var inode: UInt64

        init(major: UInt64, minor: UInt64, inode: UInt64) {
            self.major = major
            self.minor = minor
            self.inode = inode
        }

        /// glibc's `major()`/`minor()` of a `dev_t`.
        init(device: UInt64, inode: UInt64) {
            major = ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff)
            minor = (device & 0xff) | ((device >> 12) & ~0xff)
            self.inode = inode
        }
    }
}
