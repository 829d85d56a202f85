import CLibevent
import Glibc

/// Zero-copy sends for bodies that go out again and again (`--scrape.min-interval`, many
/// scrapers of one snapshot): the second time a large body is sent it is copied once into a
/// memory file, and from then on libevent hands that file to `sendfile(2)` instead of copying
/// the bytes into the socket for every reply.
///
/// Loop thread only: libevent's file segments are reference-counted without locks here (no
/// `evthread`), so they are created, used and freed on the loop thread alone.
final class SendfileCache {
    /// Below this size a copy costs less than the extra system call.
    static let minimumBytes = 64 * 1024
    /// Bodies remembered: the current snapshot's few variants (formats × gzip).
    static let capacity = 4

    private var seenOnce: [ResponseBody] = []
    private var segments: [(body: ResponseBody, segment: OpaquePointer)] = []

    /// The file segment to send `body` from, when it was sent before and is large enough;
    /// nil: send it by reference. The segment must be added to a socket's own output buffer
    /// (libevent only uses `sendfile` for buffers that drain to a descriptor).
    func segment(for body: ResponseBody) -> OpaquePointer? {
        guard body.count >= Self.minimumBytes else { return nil }
        if let cached = segments.first(where: { $0.body === body }) { return cached.segment }
        guard seenOnce.contains(where: { $0 === body }) else {
            remember(body)
            return nil
        }
        guard let segment = Self.makeSegment(body) else { return nil }
        seenOnce.removeAll { $0 === body }
        segments.append((body, segment))
        if segments.count > Self.capacity {
            // Replies still queued hold their own references: libevent frees it after them.
            evbuffer_file_segment_free(segments.removeFirst().segment)
        }
        return segment
    }

    private func remember(_ body: ResponseBody) {
        seenOnce.append(body)
        if seenOnce.count > Self.capacity { seenOnce.removeFirst() }
    }

    /// The body's bytes in an anonymous memory file, as a sendfile-able segment.
    private static func makeSegment(_ body: ResponseBody) -> OpaquePointer? {
        let fd = multiproc_memfd_create("multiproc-exporter-body", MULTIPROC_MFD_CLOEXEC)
        guard fd >= 0 else { return nil }
        var offset = 0
        while offset < body.count {
            let n = write(fd, body.bytes.baseAddress! + offset, body.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                close(fd)
                return nil
            }
            offset += n
        }
        let flags = UInt32(EVBUF_FS_CLOSE_ON_FREE | EVBUF_FS_DISABLE_MMAP | EVBUF_FS_DISABLE_LOCKING)
        guard let segment = evbuffer_file_segment_new(fd, 0, Int64(body.count), flags) else {
            close(fd)
            return nil
        }
        return segment
    }

    deinit {
        for entry in segments { evbuffer_file_segment_free(entry.segment) }
    }
}
