import Glibc

/// Unbuffered writes to the standard streams and atomic file replacement.
enum Output {
    static func stdout(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { writeAll(1, $0) }
    }

    static func stderr(_ text: String) {
        _ = Array(text.utf8).withUnsafeBytes { writeAll(2, $0) }
    }

    @discardableResult
    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync'd,
    /// then renamed over `path`, so a reader (node_exporter's textfile collector) never sees
    /// a partial file.
    static func replaceFile(at path: String, with bytes: [UInt8]) throws(CommandFailure) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var template = Array("\(directory.isEmpty ? "/" : directory)/.\(base).XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw CommandFailure("cannot create a temporary file next to \(path): \(String(cString: strerror(errno)))") }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let written = bytes.withUnsafeBytes { writeAll(fd, $0) }
        let synced = fsync(fd) == 0
        fchmod(fd, 0o644)
        close(fd)
        guard written, synced, rename(temporary, path) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(temporary)
            throw CommandFailure("cannot write \(path): \(why)")
        }
    }
}
