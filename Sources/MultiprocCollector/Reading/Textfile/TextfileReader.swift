import Glibc

// MARK: - Reading one textfile, trusting nothing about it

/// Reads one `*.prom` file of the textfile directory whole, through one descriptor, so that
/// the bytes and the modification time belong to the same file even when a writer renames a
/// new one over it meanwhile (`write_to_textfile` does exactly that: temporary file, then
/// `rename`). A file unlinked after it was opened is still read whole.
///
/// Symbolic links are followed (people link files into the directory), as node_exporter
/// follows them; a loop of links is reported by name. Opening never blocks: a FIFO named
/// `*.prom` is opened non-blocking and refused as not a regular file.
enum TextfileReader {
    enum Outcome {
        case content([UInt8], mtime: Double)
        case problem(TextfileProblem.Reason, String)
    }

    static func read(name: String, in directory: Int32, maxSize: Int) -> Outcome {
        let fd = openat(directory, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return openFailure(errno, name: name, in: directory) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .problem(.unreadable, "fstat failed: \(errnoText(errno))") }
        guard info.st_mode & S_IFMT == S_IFREG else { return .problem(.notRegularFile, "not a regular file") }
        guard Int(info.st_size) <= maxSize else { return .problem(.tooLarge, tooLarge(maxSize)) }
        // The size may change under a writer that does not rename: read to the end, one byte
        // past the limit at most.
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size) + 1)
        var count = 0
        while true {
            if count == bytes.count {
                guard count <= maxSize else { return .problem(.tooLarge, tooLarge(maxSize)) }
                bytes.append(contentsOf: repeatElement(0, count: min(max(count, 4096), maxSize + 1 - count)))
            }
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .problem(.unreadable, "read failed: \(errnoText(errno))")
            }
            if n == 0 { break }
            count += n
        }
        bytes.removeSubrange(count...)
        return .content(bytes, mtime: Double(info.st_mtim.tv_sec))
    }

    private static func openFailure(_ code: Int32, name: String, in directory: Int32) -> Outcome {
        switch code {
        case ELOOP:
            return .problem(.symlinkLoop, "too many levels of symbolic links")
        case ENOENT:
            var link = stat()
            if fstatat(directory, name, &link, AT_SYMLINK_NOFOLLOW) == 0, link.st_mode & S_IFMT == S_IFLNK {
                return .problem(.unreadable, "dangling symbolic link")
            }
            return .problem(.vanished, "gone between listing and opening")
        case ENXIO:
            return .problem(.notRegularFile, "not a regular file (a socket)")
        default:
            return .problem(.unreadable, "open failed: \(errnoText(code))")
        }
    }

    private static func tooLarge(_ maxSize: Int) -> String {
        "larger than the limit of \(maxSize) bytes (--textfile.max-file-size)"
    }
}
