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
        return try read(descriptor: fd, limit: limit)
    }

    /// What `fd` holds from its offset to the end of the file.
    package static func read(descriptor fd: Int32, limit: Int = .max) throws(ReadError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
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

    /// Why ``openRegular(_:in:flags:mode:)`` gave no descriptor.
    package enum OpenFailure: Error, Equatable, CustomStringConvertible {
        /// `openat` or `fstat` failed with this `errno` (`ENOENT`: no such file).
        case failed(Int32)
        /// A FIFO, socket, device or directory by that name.
        case notRegular

        package var description: String {
            switch self {
            case .failed(let code): return String(cString: strerror(code))
            case .notRegular: return "not a regular file"
            }
        }
    }

    /// Opens `name` in `directory` as the exporter opens the files it keeps beside the app's:
    /// never through a symbolic link, never blocking (a FIFO by that name must not hold
    /// anything up), and only when it is a regular file. `flags` adds the access mode and any
    /// of `O_CREAT`, `O_TRUNC`, `O_APPEND`. Returns the descriptor and what `fstat` said.
    package static func openRegular(_ name: String, in directory: Int32, flags: Int32,
                                    mode: mode_t = 0o644) throws(OpenFailure) -> (fd: Int32, status: stat) {
        let fd = openat(directory, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, mode)
        guard fd >= 0 else { throw .failed(errno) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let code = errno
            close(fd)
            throw .failed(code)
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw .notRegular
        }
        return (fd, status)
    }

    /// Writes all of `bytes` to `fd` (short writes and `EINTR` retried); the `strerror` text
    /// when it cannot.
    package static func write(_ bytes: [UInt8], to fd: Int32) -> String? {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return String(cString: strerror(n < 0 ? errno : EIO)) }
            done += n
        }
        return nil
    }

    /// The text of `path` (invalid UTF-8 repaired), or nil when it cannot be read.
    package static func text(_ path: String, limit: Int = 1 << 20) -> String? {
        guard let bytes = try? read(path, limit: limit) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
