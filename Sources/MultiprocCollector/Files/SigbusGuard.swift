#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Makes reads of memory-mapped metric files safe against files that shrink underneath us.
///
/// Touching a page of a `MAP_SHARED` mapping that lies beyond the file's current end raises
/// `SIGBUS`, which would kill the exporter. Python writers never shrink files, but people and
/// tools do (`truncate`, `> file`, a wipe that reuses the inode). While a thread reads inside
/// ``read(_:_:)``, a `SIGBUS` whose address falls in the declared range is absorbed: a private
/// zero page is mapped over the faulting page, the read completes (seeing zeros) and the call
/// reports the fault so the caller discards what it read. Faults anywhere else are passed to
/// the previous handler (by default: the process dies, as it should for a real bug).
///
/// The handler is installed once per process, on first use, and chains to whatever was there.
enum SigbusGuard {

    /// Per-thread record the signal handler consults; plain memory, written only by its thread.
    struct ThreadState {
        var start: UInt = 0
        var end: UInt = 0
        var faults: Int = 0
    }

    private static let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))

    /// The pthread key holding each thread's `ThreadState`; also forces installation.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { raw in
            #if canImport(Glibc)
            raw?.assumingMemoryBound(to: ThreadState.self).deallocate()
            #else
            raw.assumingMemoryBound(to: ThreadState.self).deallocate()
            #endif
        }
        return key
    }()

    nonisolated(unsafe) private static var previous = sigaction()

    private static let installation: Bool = {
        _ = key
        _ = pageSize
        var action = sigaction()
        #if canImport(Glibc)
        action.__sigaction_handler.sa_sigaction = sigbusHandler
        #else
        action.__sigaction_u.__sa_sigaction = sigbusHandler
        #endif
        action.sa_flags = SA_SIGINFO | SA_NODEFER
        sigemptyset(&action.sa_mask)
        return sigaction(SIGBUS, &action, &previous) == 0
    }()

    private static func threadState() -> UnsafeMutablePointer<ThreadState> {
        if let raw = pthread_getspecific(key) { return raw.assumingMemoryBound(to: ThreadState.self) }
        let state = UnsafeMutablePointer<ThreadState>.allocate(capacity: 1)
        state.initialize(to: ThreadState())
        pthread_setspecific(key, state)
        return state
    }

    /// Runs `body`, which may read any of the collector's mappings, absorbing every `SIGBUS` on
    /// this thread meanwhile: for batches of tiny reads where the caller redoes the batch one
    /// mapping at a time (with ``read(_:_:)``) when a fault is reported.
    static func readAnyMapping<T>(_ body: () -> T) -> (T, faulted: Bool) {
        read(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 1), count: Int.max - 1), body)
    }

    /// Runs `body`, which may read anywhere in `region`, absorbing `SIGBUS` faults inside it.
    /// Returns the body's result and whether any fault happened (then the bytes read are not
    /// trustworthy and the affected pages now read as zeros).
    static func read<T>(_ region: UnsafeRawBufferPointer, _ body: () -> T) -> (T, faulted: Bool) {
        _ = installation
        let state = threadState()
        let before = state.pointee.faults
        state.pointee.start = UInt(bitPattern: region.baseAddress)
        state.pointee.end = state.pointee.start + UInt(region.count)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        let result = body()
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        state.pointee.start = 0
        state.pointee.end = 0
        return (result, state.pointee.faults != before)
    }

    /// The handler: async-signal-safe (pthread_getspecific, mmap, sigaction only).
    private static let sigbusHandler: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = { _, info, _ in
        #if canImport(Glibc)
        let address = info.map { UInt(bitPattern: $0.pointee._sifields._sigfault.si_addr) } ?? 0
        #else
        let address = info.map { UInt(bitPattern: $0.pointee.si_addr) } ?? 0
        #endif
        if let raw = pthread_getspecific(key) {
            let state = raw.assumingMemoryBound(to: ThreadState.self)
            if address >= state.pointee.start, address < state.pointee.end {
                let page = address & ~(pageSize - 1)
                let mapped = mmap(UnsafeMutableRawPointer(bitPattern: page), Int(pageSize), PROT_READ,
                                  MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0)
                if mapped != MAP_FAILED {
                    state.pointee.faults += 1
                    return
                }
            }
        }
        // Not ours: restore the previous disposition; the faulting access repeats and gets it.
        sigaction(SIGBUS, &previous, nil)
    }
}
