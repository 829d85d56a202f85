import Foundation
import Testing
import TestSupport
@testable import MultiprocCollector

/// A metric whose files disagree on its help (a deploy changed it) takes its help from the
/// first file in `readdir` order that holds one of its entries, as Python does: the cache
/// must follow when an entry appears in an earlier file than the one that decided it.
@Suite struct ConflictingMetricTests {
    let dir = TemporaryDirectory()

    /// The names in `readdir` order (what Python's `glob` and the collector see).
    private func listing() -> [String] {
        guard let stream = opendir(dir.path) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".db") { names.append(name) }
        }
        return names
    }

    private func shared(_ help: String) -> String {
        DBWriter.key(metric: "shared", sample: "shared", labels: ["route": "/"], help: help)
    }

    /// Found by `CacheRandomizedTests` (seed 9405529840164483495): an entry whose key was
    /// already known (another file has it) was added incrementally without asking whether its
    /// file now comes first for a metric whose files disagree.
    @Test func helpFollowsAnEntryAddedToAnEarlierFile() throws {
        var writers: [String: DBWriter] = [:]
        for pid in 1...3 {
            let name = "gauge_max_\(pid).db"
            writers[name] = DBWriter(path: dir.file(name))
            writers[name]!.set(DBWriter.key(metric: "other", sample: "other", help: "Other."), Double(pid))
        }
        let order = listing()
        try #require(order.count == 3)
        let (first, second, third) = (writers[order[0]]!, writers[order[1]]!, writers[order[2]]!)
        second.set(shared("Requests (v2)."), 1)
        third.set(shared("Requests."), 2)
        let collector = try DirectoryCollector(directory: dir.path)
        let before = collector.collect().text
        #expect(before.contains("# HELP shared Requests (v2).\n"))

        first.set(shared("Requests."), 3)  // a key the third file made known
        let after = collector.collect().text
        #expect(after.contains("# HELP shared Requests.\n"), "\(after)")
        #expect(after == (try DirectoryCollector(directory: dir.path).collect().text))
    }
}
