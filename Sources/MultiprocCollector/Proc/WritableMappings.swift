// MARK: - The files a process maps for writing

/// The files one process maps writable and shared, read from `/proc/<pid>/maps`.
///
/// prometheus_client maps each metric file of its process read-write and shared from the
/// first value it stores until the process exits, so "this process maps that file for
/// writing" is the direct evidence that the file is in use. Read-only mappings do not count:
/// readers (this exporter's own cache, another exporter, `dump`) map the files read-only
/// and write nothing.
///
/// Files are matched by device and inode. On overlayfs (a directory inside a container's
/// root file system) `maps` shows the underlying file system's device while `stat` shows the
/// overlay's, so an entry whose inode matches and whose path ends in the file's own name
/// counts too.
public struct WritableMappings: Sendable, Equatable {
    /// Every file mapped writable and shared.
    public private(set) var identities: Set<DeviceInode> = []
    /// Inode and last path component of those mappings (the overlayfs fallback).
    private var namedInodes: Set<NamedInode> = []

    private struct NamedInode: Hashable, Sendable {
        var inode: UInt64
        var name: String
    }

    /// Parses the bytes of `/proc/<pid>/maps`: `start-end perms offset major:minor inode path`
    /// per line. Private, read-only, anonymous (inode 0) and malformed lines are skipped.
    public init(parsing bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { buffer in
            var lineStart = 0
            while lineStart < buffer.count {
                var lineEnd = lineStart
                while lineEnd < buffer.count && buffer[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                parseLine(UnsafeBufferPointer(rebasing: buffer[lineStart..<lineEnd]))
                lineStart = lineEnd + 1
            }
        }
    }

    /// Parses text (tests).
    public init(parsing text: String) {
        self.init(parsing: Array(text.utf8))
    }

    private mutating func parseLine(_ line: UnsafeBufferPointer<UInt8>) {
        var fields = FieldScanner(line)
        _ = fields.next()  // address range
        // A slice keeps its base's indices: offsets count from startIndex.
        guard let perms = fields.next(), perms.count == 4, perms[perms.startIndex + 1] == UInt8(ascii: "w"),
              perms[perms.startIndex + 3] == UInt8(ascii: "s") else { return }
        _ = fields.next()  // offset
        guard let device = fields.next(), let colon = device.firstIndex(of: UInt8(ascii: ":")),
              let major = Self.number(device[..<colon], radix: 16), let minor = Self.number(device[(colon + 1)...], radix: 16),
              let inodeText = fields.next(), let inode = Self.number(inodeText[...], radix: 10), inode != 0 else { return }
        identities.insert(DeviceInode(major: UInt32(truncatingIfNeeded: major), minor: UInt32(truncatingIfNeeded: minor), inode: inode))
        var path = fields.rest()
        let deleted = Array(" (deleted)".utf8)
        if path.count >= deleted.count && path.suffix(deleted.count).elementsEqual(deleted) { path = path.dropLast(deleted.count) }
        if let slash = path.lastIndex(of: UInt8(ascii: "/")) { path = path[(slash + 1)...] }
        namedInodes.insert(NamedInode(inode: inode, name: String(decoding: path, as: UTF8.self)))
    }

    private static func number(_ digits: Slice<UnsafeBufferPointer<UInt8>>, radix: UInt64) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 20 else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            let digit: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: digit = UInt64(byte - UInt8(ascii: "a") + 10)
            default: return nil
            }
            let (product, overflow) = value.multipliedReportingOverflow(by: radix)
            guard !overflow else { return nil }
            value = product + digit
        }
        return value
    }

    /// Whether the process maps the file called `name` with identity `identity` for writing.
    public func maps(_ identity: DeviceInode, name: String) -> Bool {
        identities.contains(identity) || namedInodes.contains(NamedInode(inode: identity.inode, name: name))
    }
}

/// Space-separated fields of one `maps` line.
private struct FieldScanner {
    private let line: UnsafeBufferPointer<UInt8>
    private var position = 0

    init(_ line: UnsafeBufferPointer<UInt8>) { self.line = line }

    mutating func next() -> Slice<UnsafeBufferPointer<UInt8>>? {
        while position < line.count && line[position] == UInt8(ascii: " ") { position += 1 }
        guard position < line.count else { return nil }
        let start = position
        while position < line.count && line[position] != UInt8(ascii: " ") { position += 1 }
        return line[start..<position]
    }

    /// The rest of the line after the spaces that follow the last field read (the path).
    mutating func rest() -> Slice<UnsafeBufferPointer<UInt8>> {
        while position < line.count && line[position] == UInt8(ascii: " ") { position += 1 }
        return line[position...]
    }
}
