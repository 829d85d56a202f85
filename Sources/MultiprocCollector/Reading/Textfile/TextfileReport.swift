// MARK: - One read of a textfile directory

/// What one read of a textfile directory serves and what it left out.
public struct TextfileReport: Sendable {
    /// One textfile that was read and parsed (some of its families may still have been left
    /// out: see ``TextfileReport/problems``).
    public struct File: Sendable, Equatable {
        /// The directory joined with the file's name: the `file` label of
        /// `multiproc_exporter_textfile_mtime_seconds`, as node_exporter labels its own.
        public let path: String
        /// Modification time, in whole seconds since the epoch (as node_exporter reports it).
        public let mtime: Double
    }

    /// The directory read.
    public let directory: String
    /// The families served, merged across files, sorted by name.
    public let families: [MetricFamily]
    /// The files that parsed, sorted by name.
    public let files: [File]
    /// Everything left out, in file order. Each read reports every current problem; keep a
    /// ``ProblemLog`` per consumer to report each once while it lasts.
    public let problems: [TextfileProblem]
    /// Bytes read from the files.
    public let bytes: Int
    /// Wall time of the read, in seconds.
    public let duration: Double

    /// Whether anything was left out: the value of `multiproc_exporter_textfile_scrape_error`.
    public var hasErrors: Bool { !problems.isEmpty }
}
