import Glibc

/// A value guarded by a POSIX mutex.
///
/// Used instead of `Synchronization.Mutex`, which on Linux hands a contended lock over
/// inside the kernel (priority-inheritance futexes): ThreadSanitizer cannot see that
/// hand-over, so it reported races on data the mutex did protect, and `make sanitize` could
/// not tell real races from those. A pthread mutex is what ThreadSanitizer understands, and
/// costs the same uncontended.
package final class Locked<Value: ~Copyable>: @unchecked Sendable {
    // Invariant: `value` is only touched between lock and unlock of `mutex`.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    package init(_ value: consuming Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    package func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
