import Glibc

/// Whole small files (`/proc` entries, token and configuration files), read with plain
/// system calls: no Foundation, and an upper bound so a wrong path cannot exhaust memory.
package enum FileContents {

    /// Why a file could not be read.
    package enum ReadError: Error, Equatable, CustomStringConvertible {
        /// `open` or `read` failed; the `strerror` text.
        case unreadable(String)
        /// The file holds more than the limit given.
        case tooLarge(limit: Int)

        package var description: String {
            switch self {
            case .unreadable(let why): return why
            case .tooLarge(let limit): return "larger than \(limit) bytes"
            }
        }
    }

    /// The bytes of `path`, or why they cannot be had. Files under `/proc` report a size of 0,
    /// so this reads until end of file rather than trusting `fstat`.
    package static func read(_ path: String, limit: Int = 1 << 20) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw .unreadable(String(cString: strerror(errno))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = Glibc.read(fd, &chunk, chunk.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw .unreadable(String(cString: strerror(errno)))
            }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > limit { throw .tooLarge(limit: limit) }
        }
    }

    /// The text of `path` (invalid UTF-8 repaired), or nil when it cannot be read.
    package static func text(_ path: String, limit: Int = 1 << 20) -> String? {
        guard let bytes = try? read(path, limit: limit) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
