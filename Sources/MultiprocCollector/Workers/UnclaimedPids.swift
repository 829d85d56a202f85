// MARK: - Pids with files and no live writer

/// The pids of the directory whose files no live writer maps (workers that exited, pids the
/// app does not hold here), each with when to look at it again.
///
/// A look costs in proportion to the live workers, not to these: ``due(at:limit:)`` scans them
/// only once one is due, and whether one shows another pid namespace is kept as a set.
struct UnclaimedPids {
    /// One pid and when to look at it again.
    struct Entry {
        var files: PidListing.Files
        var nextLook: Double
        var backoff: Double
        /// The start of the process holding the pid at the last look (nil: none).
        var holderStart: UInt64?
        /// The holder existed before the files without mapping them: look again soon.
        var unconfirmed: Bool
        /// The holder showed that the names carry another namespace's pids.
        var foreign: Bool
    }

    private var entries: [Int: Entry] = [:]
    /// Pids whose holder showed another pid namespace.
    private(set) var foreign: Set<Int> = []
    /// No entry is due before this time.
    private var earliest = Double.infinity

    subscript(pid: Int) -> Entry? {
        get { entries[pid] }
        set {
            entries[pid] = newValue
            if newValue?.foreign == true { foreign.insert(pid) } else { foreign.remove(pid) }
            if let next = newValue?.nextLook { earliest = min(earliest, next) }
        }
    }

    /// Forgets the pids no longer listed.
    mutating func keep(listed: [Int: PidListing.Files]) {
        entries = entries.filter { listed[$0.key] != nil }
        foreign = foreign.filter { listed[$0] != nil }
    }

    /// Forgets every pid.
    mutating func removeAll() {
        self = UnclaimedPids()
    }

    /// Up to `limit` pids due at `now`, the longest due first.
    mutating func due(at now: Double, limit: Int) -> [(pid: Int, entry: Entry)] {
        guard now >= earliest else { return [] }
        let due = entries.filter { $0.value.nextLook <= now }.sorted { $0.value.nextLook < $1.value.nextLook }.prefix(limit)
        // Those not taken now are due at once again; otherwise the next one.
        earliest = due.count == limit ? now : entries.values.map(\.nextLook).filter { $0 > now }.min() ?? .infinity
        return due.map { ($0.key, $0.value) }
    }
}
