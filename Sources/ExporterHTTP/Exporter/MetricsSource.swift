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
}

extension MetricsSource {
    public func compact(delay: Double) -> CompactionReport { CompactionReport() }
}

extension DirectoryCollector: MetricsSource {}
