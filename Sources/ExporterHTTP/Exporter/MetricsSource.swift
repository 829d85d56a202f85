import MultiprocCollector

/// Where the server gets its metrics: the real ``DirectoryCollector`` in production, anything
/// else (a deliberately slow wrapper, a fake) in tests.
///
/// Both methods are called on worker threads, never on the event loop, and may block.
public protocol MetricsSource: Sendable {
    /// The merged metrics as of now.
    func collect() -> Snapshot
    /// Removes `pid`'s live gauge files; returns the names removed.
    func markDead(pid: Int) throws(CollectorError) -> [String]
    /// One compaction pass (``DirectoryCollector/compact(delay:)``); sources that do not
    /// compact report an empty pass.
    func compact(delay: Double) -> CompactionReport
    /// The pids marked dead so far (auto mark-dead looks at them again only when their live
    /// gauge files reappear). None by default.
    var markedDeadPids: Set<Int> { get }
}

extension MetricsSource {
    public func compact(delay: Double) -> CompactionReport { CompactionReport() }
    /// None: a source that does not track them gets every pid looked at again, which only
    /// repeats an idempotent mark-dead.
    public var markedDeadPids: Set<Int> { [] }
}

extension DirectoryCollector: MetricsSource {}
