// MARK: - Where every slotting path finds an entry's slot

/// The slots worked out so far, by where entries find them (``SlotMemoKey``): the one table
/// all three slotting paths read (``PlanBuilder``'s entry-by-entry ``PlanBuilder/add(file:from:keys:_:)``,
/// and the full build's slot creation and per-file lookup), through ``EntryWalk``.
struct SlotMemos {
    /// By key id, grown on demand to the key table's size: the slot of entries that feed one
    /// slot whatever file holds them (every key but those of `all`/`liveall` gauge files).
    private var byKey: [PlanBuilder.SlotMemo] = []
    /// The slot of each entry of an `all`/`liveall` gauge file, whose series carry its pid.
    /// Only slots are kept (an entry left out is worked out again: it costs only a report).
    private var byKeyAndPid: [PidSlotKey: Int32] = [:]
    /// The number standing for each pid in ``PidSlotKey``s. Pids are ASCII digits
    /// (``MetricFileName``): `String` equality is byte equality for them.
    private var pidNumbers: [String: Int32] = [:]

    subscript(_ key: SlotMemoKey) -> PlanBuilder.SlotMemo {
        switch key {
        case .key(let id): return byKey[Int(id)]
        case .keyAndPid(let key): return byKeyAndPid[key].map(PlanBuilder.SlotMemo.slot) ?? .unknown
        }
    }

    mutating func remember(_ memo: PlanBuilder.SlotMemo, at key: SlotMemoKey) {
        switch key {
        case .key(let id): byKey[Int(id)] = memo
        case .keyAndPid(let key): if case .slot(let slot) = memo { byKeyAndPid[key] = slot }
        }
    }

    /// Grows the per-key table to `count` keys.
    mutating func cover(keys count: Int) {
        if byKey.count < count { byKey += Array(repeating: .unknown, count: count - byKey.count) }
    }

    /// A walk over the entries of `file` (see ``EntryWalk``); its pid is numbered on first use.
    mutating func walk(_ file: MetricFileName) -> EntryWalk {
        EntryWalk(file: file, pidNumber: file.type == .gauge ? pidNumber(file.pid) : -1)
    }

    /// The same for a pass that only looks slots up: every pid it meets has its number.
    func lookupWalk(_ file: MetricFileName) -> EntryWalk {
        EntryWalk(file: file, pidNumber: file.type == .gauge ? pidNumbers[file.pid] ?? -1 : -1)
    }

    private mutating func pidNumber(_ pid: String) -> Int32 {
        if let known = pidNumbers[pid] { return known }
        let number = Int32(pidNumbers.count)
        pidNumbers[pid] = number
        return number
    }
}

/// Where the slot of an entry is memoized.
enum SlotMemoKey {
    /// By its key alone.
    case key(KeyTable.ID)
    /// By key and the file's pid: an entry of an `all`/`liveall` gauge file, whose series
    /// carry the pid as a label.
    case keyAndPid(PidSlotKey)
}

/// An entry of an `all`/`liveall` gauge file: its key and the file's pid (numbered by
/// ``SlotMemos``) name one series, since the pid becomes a label.
struct PidSlotKey: Hashable {
    var key: KeyTable.ID
    var pid: Int32
}

/// How every slotting path walks one file's entries, so that they agree on every slot:
/// entries of one metric come in runs (the metric is looked at once per run), and each entry
/// finds its slot under ``memoKey(for:)``.
struct EntryWalk {
    private let isGaugeFile: Bool
    /// The file's pid number (gauge files), or -1.
    private let pidNumber: Int32
    /// The metric of the current run.
    private(set) var metric: Int32 = -1
    /// Whether the current run's entries keep the file's pid as a label: entries of gauge
    /// files whose metric is in `all`/`liveall` mode.
    private(set) var keepsPid = false

    /// Made by ``SlotMemos/walk(_:)`` or ``SlotMemos/lookupWalk(_:)``.
    fileprivate init(file: MetricFileName, pidNumber: Int32) {
        isGaugeFile = file.type == .gauge
        self.pidNumber = pidNumber
    }

    /// Enters the run of `metric`, whose gauges drop every `pid` label when `dropsPid`
    /// (``PlanBuilder/MetricInfo/dropsPid``, looked at only when a new run starts); true when
    /// a new run starts.
    @discardableResult @inline(__always)
    mutating func enter(_ metric: Int32, dropsPid: @autoclosure () -> Bool) -> Bool {
        guard metric != self.metric else { return false }
        self.metric = metric
        keepsPid = isGaugeFile && !dropsPid()
        return true
    }

    /// Where the entry with key `key`, in the current run, finds its slot.
    func memoKey(for key: KeyTable.ID) -> SlotMemoKey {
        keepsPid ? .keyAndPid(PidSlotKey(key: key, pid: pidNumber)) : .key(key)
    }
}
