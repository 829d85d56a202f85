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
    private var reported: Set<FileProblem> = []

    public init() {}

    /// The problems of `snapshot` not reported since they last appeared. Call once per
    /// snapshot, in the order the snapshots were taken.
    public mutating func newProblems(in snapshot: Snapshot) -> [FileProblem] {
        let current = Set(snapshot.problems)
        defer { reported = current }
        var seen = Set<FileProblem>()
        return snapshot.problems.filter { !reported.contains($0) && seen.insert($0).inserted }
    }
}
