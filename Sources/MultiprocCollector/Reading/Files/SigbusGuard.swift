import Glibc
import Synchronization

// MARK: - Surviving files that shrink under a mapping

/// The process-wide `SIGBUS` handler that lets ``DirectoryCollector`` read memory-mapped files
/// that other processes may truncate at any moment.
///
/// Touching a page of a `MAP_SHARED` mapping that lies beyond the file's current end raises
/// `SIGBUS`, which kills the process. Python writers never shrink files, but people and tools
/// do (`truncate`, `> file`, a wipe that reuses the inode). While the collector reads a
/// mapping, the handler absorbs a `SIGBUS` whose address falls in that mapping: it maps a
/// private zero page over the faulting page, notes the page, and lets the read finish; the
/// collector then throws away what it read and drops the mapping. Any other `SIGBUS` goes to
/// the handler that was installed before (by default the process dies, as it should for a
/// real bug).
///
/// By default ``DirectoryCollector`` installs the handler when it is created. An embedder
/// that installs `SIGBUS` handlers of its own (crash reporters do) should decide the order:
/// call ``install()`` first, then install its own handler chaining to the previous one, and
/// create collectors with ``DirectoryCollector/Options/installsSigbusHandler`` set to false.
/// A handler installed later that does not chain makes truncated files crash the process.
public enum SigbusProtection {

    /// Why the handler could not be installed.
    public struct InstallError: Error, Equatable, CustomStringConvertible {
        /// `strerror` of `sigaction`'s failure.
        public let reason: String
        public var description: String { "cannot install the SIGBUS handler: \(reason)" }
    }

    /// Installs the handler once per process (later calls do nothing) and chains to the
    /// handler that was there before.
    public static func install() throws(InstallError) {
        if let failure = SigbusGuard.installation { throw InstallError(reason: failure) }
    }

    /// Whether ``install()`` has succeeded in this process.
    public static var isInstalled: Bool { SigbusGuard.installed.load(ordering: .acquiring) }
}

/// Guarded reads of mappings: the collector's side of ``SigbusProtection``.
enum SigbusGuard {

    /// Faulting pages remembered per guarded read; more faults than this are counted but
    /// leave the report unable to tell which mappings they hit.
    static let loggedPages = 8

    /// Per-thread record the signal handler consults; plain memory, written only by its thread.
    struct ThreadState {
        var start: UInt = 0
        var end: UInt = 0
        var faults: Int = 0
        /// The first ``loggedPages`` faulting pages of the current read.
        var pages: (UInt, UInt, UInt, UInt, UInt, UInt, UInt, UInt) = (0, 0, 0, 0, 0, 0, 0, 0)
    }

    /// What the faults during one guarded read hit.
    struct Faults {
        /// Faults absorbed (0: the read saw the real bytes).
        let count: Int
        /// Their pages, when there were at most ``loggedPages``.
        let pages: [UInt]

        static let none = Faults(count: 0, pages: [])

        var happened: Bool { count > 0 }

        /// Whether a fault may have hit `region`: such a mapping now reads zeros where the
        /// fault was and must be dropped. True for every region when too many faults came
        /// to remember where.
        func hit(_ region: UnsafeRawBufferPointer) -> Bool {
            guard count > 0 else { return false }
            guard count <= SigbusGuard.loggedPages else { return true }
            let start = UInt(bitPattern: region.baseAddress)
            let end = start + UInt(region.count)
            return pages.contains { $0 + pageSize > start && $0 < end }
        }
    }

    static let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))

    /// The pthread key holding each thread's `ThreadState`.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { raw in raw?.assumingMemoryBound(to: ThreadState.self).deallocate() }
        return key
    }()

    nonisolated(unsafe) private static var previous = sigaction()
    static let installed = Atomic<Bool>(false)

    /// Installs the handler on first use; nil on success, else why it failed.
    static let installation: String? = {
        _ = key
        _ = pageSize
        var action = sigaction()
        action.__sigaction_handler.sa_sigaction = sigbusHandler
        action.sa_flags = SA_SIGINFO | SA_NODEFER
        sigemptyset(&action.sa_mask)
        guard sigaction(SIGBUS, &action, &previous) == 0 else { return String(cString: strerror(errno)) }
        installed.store(true, ordering: .releasing)
        return nil
    }()

    private static func threadState() -> UnsafeMutablePointer<ThreadState> {
        if let raw = pthread_getspecific(key) { return raw.assumingMemoryBound(to: ThreadState.self) }
        let state = UnsafeMutablePointer<ThreadState>.allocate(capacity: 1)
        state.initialize(to: ThreadState())
        pthread_setspecific(key, state)
        return state
    }

    /// Runs `body`, which may read any of the collector's mappings, absorbing every `SIGBUS` on
    /// this thread meanwhile: for batches of tiny reads over many mappings, where
    /// ``Faults/hit(_:)`` tells the caller which mappings to drop.
    static func readAnyMapping<T>(_ body: () -> T) -> (T, faults: Faults) {
        read(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 1), count: Int.max - 1), body)
    }

    /// Runs `body`, which may read anywhere in `region`, absorbing `SIGBUS` faults inside it.
    /// Returns the body's result and the faults: after any, the bytes read are not
    /// trustworthy and the pages hit now read as zeros for good (drop the mapping).
    ///
    /// Without ``SigbusProtection/install()`` the body runs unguarded (the caller chose so;
    /// see ``DirectoryCollector/Options``).
    static func read<T>(_ region: UnsafeRawBufferPointer, _ body: () -> T) -> (T, faults: Faults) {
        let state = threadState()
        state.pointee.faults = 0
        state.pointee.start = UInt(bitPattern: region.baseAddress)
        state.pointee.end = state.pointee.start + UInt(region.count)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        let result = body()
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        state.pointee.start = 0
        state.pointee.end = 0
        let count = state.pointee.faults
        guard count > 0 else { return (result, .none) }
        let logged = withUnsafeBytes(of: state.pointee.pages) { Array($0.bindMemory(to: UInt.self).prefix(min(count, loggedPages))) }
        return (result, Faults(count: count, pages: logged))
    }

    /// The handler: async-signal-safe (pthread_getspecific, mmap, sigaction only).
    private static let sigbusHandler: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = { _, info, _ in
        let address = info.map { UInt(bitPattern: $0.pointee._sifields._sigfault.si_addr) } ?? 0
        if let raw = pthread_getspecific(key) {
            let state = raw.assumingMemoryBound(to: ThreadState.self)
            if address >= state.pointee.start, address < state.pointee.end {
                let page = address & ~(pageSize - 1)
                let mapped = mmap(UnsafeMutableRawPointer(bitPattern: page), Int(pageSize), PROT_READ,
                                  MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0)
                if mapped != MAP_FAILED {
                    let index = state.pointee.faults
                    if index < loggedPages {
                        withUnsafeMutableBytes(of: &state.pointee.pages) { $0.storeBytes(of: page, toByteOffset: index * MemoryLayout<UInt>.stride, as: UInt.self) }
                    }
                    state.pointee.faults = index + 1
                    return
                }
            }
        }
        // Not ours: restore the previous disposition; the faulting access repeats and gets it.
        sigaction(SIGBUS, &previous, nil)
    }
}
