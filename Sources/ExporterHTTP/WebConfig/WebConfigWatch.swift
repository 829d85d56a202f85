import Glibc

/// inotify on the folders of the web config file and of the files it names: an edit is seen
/// when it is made, before a connection that arrives after it is accepted.
///
/// Why besides the `stat` per request and per connection (``LiveWebConfig``): a request can
/// wait for a reload, a TLS handshake cannot (libevent's OpenSSL bufferevent starts it as the
/// connection is accepted, with the context it is given then, and has no way to suspend it). So
/// the loop runs this watch before any other ready event (``EventLoopServer/watch(readable:_:)``),
/// and ``LiveWebConfig`` stops accepting until the edit is loaded: the first handshake after a
/// certificate change gets the new certificate. Where inotify cannot see an edit (a file reached
/// through a symbolic link into another folder, a network file system, no inotify instances
/// left), the `stat`s still catch it, one connection later for TLS.
///
/// Folders, not files: editors and Kubernetes replace files by rename (a Secret volume swaps its
/// `..data` symbolic link), which a watch on the old inode would not report.
final class WebConfigWatch {
    /// The inotify descriptor, for the loop to watch.
    let descriptor: Int32
    /// Watched folder → inotify watch.
    private var watches: [String: Int32] = [:]

    private static let events = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE
                                        | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF) | UInt32(IN_ONLYDIR)

    /// Nil when inotify is unavailable (the `stat`s alone then notice edits).
    init?() {
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { return nil }
    }

    deinit { close(descriptor) }

    /// Watches the folders of `paths` and no others. A folder that cannot be watched (gone,
    /// not readable) is skipped: the `stat`s cover it.
    func watch(foldersOf paths: [String]) {
        let folders = Set(paths.map(WebConfigLoader.directory(of:)).map { $0.isEmpty ? "." : $0 })
        for (folder, watch) in watches where !folders.contains(folder) {
            inotify_rm_watch(descriptor, watch)
            watches[folder] = nil
        }
        for folder in folders where watches[folder] == nil {
            let watch = inotify_add_watch(descriptor, folder, Self.events)
            if watch >= 0 { watches[folder] = watch }
        }
    }

    /// Reads every queued event. Their names do not matter (any change is checked with `stat`),
    /// but a folder deleted or moved away loses its watch (`IN_IGNORED`): ``watch(foldersOf:)``
    /// adds it again after the next load.
    func drain() {
        let size = MemoryLayout<inotify_event>.size
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(descriptor, &buffer, buffer.count)
            guard n > 0 else { return }
            var offset = 0
            while offset + size <= n {
                let event = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: inotify_event.self) }
                if event.mask & UInt32(IN_IGNORED) != 0 {
                    watches = watches.filter { $0.value != event.wd }
                }
                offset += size + Int(event.len)
            }
        }
    }
}
