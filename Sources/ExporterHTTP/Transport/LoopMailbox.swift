import Glibc
import MultiprocSupport

/// The one way other threads talk to the event loop: a locked queue plus a self-pipe.
///
/// Why a pipe rather than `event_active`: calling into libevent from another thread needs
/// `evthread_use_pthreads()` and the `event_pthreads` library, and makes every libevent call
/// take locks. A pipe keeps libevent single-threaded: a worker appends under the lock and
/// writes one byte only when the queue goes from empty to non-empty; the loop's read event
/// drains the pipe and the queue together. The pipe never fills because at most one byte is
/// unread per batch.
final class LoopMailbox: Sendable {
    enum Message: Sendable {
        case reply(UInt64, HTTPResponse)
        /// Work that must run on the loop thread (a handler resumed after a password check).
        case perform(@Sendable () -> Void)
        case shutdown
    }

    private struct State {
        var messages: [Message] = []
        var closed = false
    }

    private let state = Locked(State())
    /// Read end, watched by the loop.
    let readFD: Int32
    private let writeFD: Int32

    init() throws(ConfigurationError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ConfigurationError("cannot create wake-up pipe: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    /// Queues a message and wakes the loop. Dropped once the loop has stopped.
    func post(_ message: Message) {
        state.withLock { state in
            guard !state.closed else { return }
            state.messages.append(message)
            if state.messages.count == 1 {
                var byte: UInt8 = 1
                _ = write(writeFD, &byte, 1)  // EAGAIN only if already woken: fine
            }
        }
    }

    /// Loop thread: empties the pipe and returns the queued messages.
    func take() -> [Message] {
        var scratch = [UInt8](repeating: 0, count: 64)
        while read(readFD, &scratch, scratch.count) > 0 {}
        return state.withLock { state in
            defer { state.messages = [] }
            return state.messages
        }
    }

    /// Stops delivery for good and closes the pipe.
    func close() {
        state.withLock { state in
            guard !state.closed else { return }
            state.closed = true
            state.messages = []
            closeDescriptor(readFD)
            closeDescriptor(writeFD)
        }
    }
}

/// `close(2)`, named so that it does not clash with methods called `close`.
func closeDescriptor(_ fd: Int32) {
    _ = Glibc.close(fd)
}
