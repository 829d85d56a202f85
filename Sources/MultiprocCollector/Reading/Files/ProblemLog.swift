// MARK: - Reporting each problem once

/// Remembers which file problems one consumer has reported, so that it logs and counts each
/// problem once while the problem lasts (and again if it goes away and comes back).
///
/// Keep one per consumer: two consumers of the same ``DirectoryCollector`` (a server and a
/// background checker, say) each see every problem.
///
/// ```swift
/// var log = ProblemLog()
/// let snapshot = collector.collect()
/// for problem in log.newProblems(in: snapshot) { logger.warning("\(problem)") }
/// ```
public struct ProblemLog: Sendable {
    private var files = ReportedOnce<FileProblem>()
    private var textfiles = ReportedOnce<TextfileProblem>()

    public init() {}

    /// The problems of `snapshot` not reported since they last appeared. Call once per
    /// snapshot, in the order the snapshots were taken.
    public mutating func newProblems(in snapshot: Snapshot) -> [FileProblem] {
        files.new(in: snapshot.problems)
    }

    /// The same for the problems of the textfile directory (``Snapshot/textfiles``). Call
    /// once per snapshot too.
    public mutating func newTextfileProblems(in snapshot: Snapshot) -> [TextfileProblem] {
        textfiles.new(in: snapshot.textfiles?.problems ?? [])
    }
}

/// The problems of the last call, to tell new ones from lasting ones.
private struct ReportedOnce<Problem: Hashable & Sendable>: Sendable {
    private var reported: Set<Problem> = []

    mutating func new(in problems: [Problem]) -> [Problem] {
        let current = Set(problems)
        defer { reported = current }
        var seen = Set<Problem>()
        return problems.filter { !reported.contains($0) && seen.insert($0).inserted }
    }
}
