import MultiprocSupport

/// Reads a textfile directory as node_exporter's textfile collector does: every `*.prom` file
/// in the Prometheus text format (0.0.4), read again on every ``collect()``, families merged
/// across files when they agree.
///
/// This is how metrics that prometheus_client's multiprocess mode cannot carry reach the
/// same scrape as the `.db` files: `Info` and `Enum` metrics and custom collectors, written
/// with `prometheus_client.write_to_textfile` (atomically: a temporary file, then `rename`),
/// and the output of cron jobs.
///
/// Nothing in a file can take the scrape down or hide good data: a file that cannot be read
/// or parsed ( ``TextFormatParser`` ) is left out whole, a family that contradicts another
/// file's, repeats a sample or takes a name someone else serves is left out of that file
/// (``TextfileMerge``), and each case is a ``TextfileProblem`` in the report. Files are taken
/// in name order; the first file wins.
///
/// Thread-safe; ``collect()`` blocks on file I/O (do not call it on an event loop).
public final class TextfileCollector: Sendable {

    /// How a textfile directory is read.
    public struct Options: Sendable {
        /// Files larger than this are left out (``TextfileProblem/Reason/tooLarge``). 16 MiB
        /// by default: some 200 000 series of prometheus_client's output.
        public var maxFileSize = 16 << 20
        /// Families the caller serves itself beside the textfiles (an exporter's own metrics):
        /// a textfile family taking one of their names is left out
        /// (``TextfileProblem/Reason/reservedName``).
        public var reservedFamilies: [MetricFamily] = []
        /// A name prefix the caller keeps for itself (`multiproc_exporter_`), likewise.
        public var reservedPrefix: String?

        /// The defaults.
        public init() {}
    }

    /// The directory, as given.
    public let directory: String
    private let options: Options
    private let reserved: NameClaims
    /// The `.db` families' names, kept for the merge plan they were computed from.
    private let directoryClaims = Locked<(plan: MergePlan, claims: NameClaims)?>(nil)

    /// Creates a collector for `directory`, which must exist and be a directory.
    ///
    /// - Throws: ``CollectorError/directoryMissing(path:)``, ``CollectorError/notADirectory(path:)``,
    ///   ``CollectorError/permissionDenied(path:)`` or ``CollectorError/directoryUnreadable(path:reason:)``.
    public init(directory: String, options: Options = Options()) throws(CollectorError) {
        _ = try MetricDirectory(path: directory)
        self.directory = directory
        self.options = options
        reserved = NameClaims(options.reservedFamilies)
    }

    /// Reads every textfile now.
    public func collect() -> TextfileReport {
        collect(besides: NameClaims())
    }

    /// Reads every textfile now, leaving out families that take a name one of `families`
    /// takes (``TextfileProblem/Reason/shadowedByDBFiles``): what a collector serving those
    /// beside the textfiles needs.
    public func collect(besides families: [MetricFamily]) -> TextfileReport {
        collect(besides: NameClaims(families))
    }

    /// The same, beside the families of a `.db` merge plan (their names computed once per plan).
    func collect(besides plan: MergePlan) -> TextfileReport {
        let claims = directoryClaims.withLock { cached in
            if let cached, cached.plan === plan { return cached.claims }
            var claims = NameClaims()
            for family in plan.families {
                claims.insert(NameClaims.keys(name: family.name, type: family.type, sampleNames: family.lines.map(\.sampleName)))
            }
            cached = (plan, claims)
            return claims
        }
        return collect(besides: claims)
    }

    private func collect(besides directoryClaims: NameClaims) -> TextfileReport {
        let started = monotonicNow()
        var merge = TextfileMerge(directoryClaims: directoryClaims, reserved: reserved, reservedPrefix: options.reservedPrefix)
        var files: [TextfileReport.File] = []
        var problems: [TextfileProblem] = []
        var bytesRead = 0
        do throws(CollectorError) {
            let listing = try MetricDirectory(path: directory)
            let names = listing.names()
                .filter { $0.utf8.count > 5 && $0.utf8.suffix(5).elementsEqual(".prom".utf8) }
                .sorted { $0.exactlyPrecedes($1) }
            for name in names {
                let path = join(directory, name)
                switch TextfileReader.read(name: name, in: listing.descriptor, maxSize: options.maxFileSize) {
                case .problem(let reason, let detail):
                    problems.append(TextfileProblem(file: path, reason: reason, detail: detail))
                case .content(let bytes, let mtime):
                    bytesRead += bytes.count
                    do throws(TextFormatParser.Failure) {
                        let parsed = try TextFormatParser.parse(bytes)
                        files.append(TextfileReport.File(path: path, mtime: mtime))
                        for family in TextfileFamily.build(parsed) {
                            if let problem = merge.add(family, file: path) { problems.append(problem) }
                        }
                    } catch {
                        switch error {
                        case .syntax(let error):
                            problems.append(TextfileProblem(file: path, reason: .parseError, detail: error.description))
                        case .timestamp(let line):
                            problems.append(TextfileProblem(
                                file: path, reason: .timestamp,
                                detail: "line \(line): samples have timestamps, which are not supported (as in node_exporter)"))
                        }
                    }
                }
            }
        } catch {
            problems.append(TextfileProblem(file: directory, reason: .directoryUnreadable, detail: error.description))
        }
        return TextfileReport(directory: directory, families: merge.families(), files: files, problems: problems,
                              bytes: bytesRead, duration: monotonicNow() - started)
    }

    /// `directory/name`, without a doubled slash.
    private func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
