import Glibc

// MARK: - Noticing files changed through system calls

/// Tells a refresh which files were changed by a system call since the last one.
///
/// prometheus_client's writers change their files by storing into their mappings, which the
/// cache follows (`used` and values are read at every scrape), and by system calls only when
/// they create a file or grow it (`ftruncate`). Anyone else changes a file by system calls:
/// `truncate`, `> file`, `open` with `O_TRUNC`, `write`. Those can make a cached reading
/// silently wrong: pages a truncation leaves wholly past the end of the file raise `SIGBUS`
/// (``SigbusGuard`` turns that into a re-read), but the page holding the new end reads zeros,
/// and a file cut short and written again in place to the same size shows nothing at all.
///
/// Every such system call raises an inotify `IN_MODIFY` event on the directory, while the
/// writers' stores into their mappings do not. So the events are few (a file's creation and
/// growth, plus whatever an operator does) and name the files to read from scratch. When
/// inotify is unavailable (no instances left, a file system without it) or its queue
/// overflowed, the cache falls back to one `fstatat` per mapped file and refresh, re-reading
/// the files shorter than their mappings or whose modification time moved (which the
/// writers' own stores also do now and then: a few extra re-reads). Blind spot of the
/// fallback: a change in the same clock tick as the previous look.
struct FileChangeWatch: ~Copyable {
    /// How changes are learned.
    enum Detection {
        /// inotify events, falling back to size comparison when inotify fails.
        case inotify
        /// Every mapped file's size and modification time looked at every refresh.
        case sizeComparison
        /// Nothing: only `SIGBUS` tells (tests use it to reproduce a file that shrinks between
        /// this check and the read).
        case none
    }

    private let detection: Detection
    private var descriptor: Int32 = -1
    /// The directory the watch is on: a directory replaced under the same path needs a new one.
    private var watched: (device: UInt64, inode: UInt64)?

    /// What changed.
    enum Changes {
        /// Only these names were changed by a system call.
        case names(Set<String>)
        /// Unknown (first use, overflow, no inotify): compare every file with its mapping.
        case unknown
        /// Nothing is to be checked (``Detection/none``).
        case unchecked
    }

    /// Whether a refresh asked already (see ``changes(path:version:)``).
    private var asked = false

    /// The inotify instance is made at the second refresh, not here: a collector used once
    /// (`dump`, an embedder's one-off read) costs none of the user's instances (128 by
    /// default), and none of the milliseconds the kernel takes to tear one down at exit.
    init(_ detection: Detection = .inotify) {
        self.detection = detection
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// The changes since the last call, for the directory at `path` (`version`: its identity now).
    mutating func changes(path: String, version: MetricDirectory.Version?) -> Changes {
        if detection == .none { return .unchecked }
        // The first refresh maps everything it reads: nothing is there to have changed yet.
        guard asked else {
            asked = true
            return .unknown
        }
        if detection == .inotify, descriptor < 0 {
            // First use, or the last attempt failed (the user's instances were all taken):
            // try again, so a passing shortage does not leave the fallback on for good.
            descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        }
        guard descriptor >= 0, let version else { return .unknown }
        if watched.map({ $0 != (version.device, version.inode) }) ?? true {
            // First use, or a new directory under the path: watch it, then check everything once.
            watched = nil
            drain()
            guard inotify_add_watch(descriptor, path, UInt32(IN_MODIFY) | UInt32(IN_ONLYDIR)) >= 0 else { return .unknown }
            watched = (version.device, version.inode)
            return .unknown
        }
        return drain()
    }

    /// Reads every queued event; the names of the files they concern.
    @discardableResult
    private func drain() -> Changes {
        var names = Set<String>()
        var overflowed = false
        let capacity = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: MemoryLayout<inotify_event>.alignment)
        defer { buffer.deallocate() }
        while true {
            let n = read(descriptor, buffer, capacity)
            if n <= 0 { break }  // EAGAIN: nothing more queued
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= n {
                let event = buffer.load(fromByteOffset: offset, as: inotify_event.self)
                let nameStart = offset + MemoryLayout<inotify_event>.size
                if event.mask & UInt32(IN_Q_OVERFLOW) != 0 { overflowed = true }
                if event.len > 0 {
                    let bytes = UnsafeRawBufferPointer(start: buffer + nameStart, count: Int(event.len))
                    names.insert(String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self))
                }
                offset = nameStart + Int(event.len)
            }
        }
        return overflowed ? .unknown : .names(names)
    }
}
