// MARK: - What an archive file holds

/// The entries of one archive file, and how the entries of a dead worker's file fold into it.
///
/// Archives are ordinary metric files of a pid no process can have, `0`: `counter_0.db`,
/// `histogram_0.db`, `summary_0.db` and `gauge_{min,max,sum,mostrecent}_0.db`, written in
/// today's layout (``FileLayout/k4v16``) so that prometheus_client's own collector reads
/// them. Entries fold per key, the way prometheus_client's collector combines the same key
/// across files: counters, histograms, summaries and `sum` gauges add; `min`/`max` gauges keep
/// the smaller/larger (the first value stays unless a later one is strictly smaller/larger);
/// `mostrecent` gauges keep the value with the strictly latest timestamp. Keys of older
/// layouts are rewritten in today's shape first (help `Multiprocess metric` where they had
/// none), as the collector itself reads them.
///
/// Keys are compared as bytes, never as Swift `String`s (canonical equivalence would merge
/// `café` with `cafe\u{301}`, two series for Python). Files are added one at a time, so
/// what a pass holds is the archive plus one file, however many files it folds.
struct ArchiveContent {
    /// The pid archives are named with: no process has it.
    static let pid = "0"

    /// How the values of one key from several files combine.
    enum Combination: Equatable {
        case sum, min, max, mostRecent
    }

    /// One entry: its key's bytes in today's shape, value and timestamp.
    typealias Entry = FileImage.Entry

    let name: String
    let combination: Combination
    /// In order of first appearance (the old archive's order, then new keys as folded).
    private(set) var entries: [Entry] = []
    private var index: [[UInt8]: Int] = [:]
    /// Bytes of the keys held (what the content costs, roughly: see ``heldBytes``).
    private var keyBytes = 0

    init(name: String, combination: Combination) {
        self.name = name
        self.combination = combination
    }

    /// The archive `file` folds into, and how; nil for files that are never folded (`all`
    /// gauges keep one series per pid; live gauges belong to running processes; archives).
    static func target(of file: MetricFileName) -> (name: String, combination: Combination)? {
        guard file.pid != pid else { return nil }
        switch file.type {
        case .counter, .histogram, .summary: return ("\(file.type.rawValue)_\(pid).db", .sum)
        case .gauge:
            switch file.gaugeMode {
            case .sum?: return ("gauge_sum_\(pid).db", .sum)
            case .min?: return ("gauge_min_\(pid).db", .min)
            case .max?: return ("gauge_max_\(pid).db", .max)
            case .mostRecent?: return ("gauge_mostrecent_\(pid).db", .mostRecent)
            default: return nil
            }
        case .unknown: return nil  // never a file's type
        }
    }

    /// The kinds of files that fold (the names' stems).
    private static let foldableStems = ["counter", "histogram", "summary", "gauge_min", "gauge_max", "gauge_sum", "gauge_mostrecent"]

    /// The names of the files of `pid` that fold into archives (whether they exist or not).
    static func foldableNames(pid: String) -> [String] {
        foldableStems.map { "\($0)_\(pid).db" }
    }

    /// The archives' names.
    static let names = Set(foldableNames(pid: pid))

    /// Folds in the entries of a metric file's bytes (up to `used`), all or none: a file that
    /// is not entirely sound throws and leaves the content as it was.
    mutating func add(file bytes: [UInt8], name: String) throws(FoldError) {
        do { add(try SoundFile.entries(of: bytes)) } catch { throw FoldError(file: name, reason: error.reason) }
    }

    /// Folds `incoming` in, in order.
    mutating func add(_ incoming: [Entry]) {
        for entry in incoming {
            guard let i = index[entry.key] else {
                index[entry.key] = entries.count
                entries.append(entry)
                keyBytes += entry.key.count
                continue
            }
            switch combination {
            case .sum: entries[i].value += entry.value
            case .min: if entry.value < entries[i].value { entries[i].value = entry.value }
            case .max: if entry.value > entries[i].value { entries[i].value = entry.value }
            case .mostRecent:
                if entry.timestamp > entries[i].timestamp {
                    entries[i].value = entry.value
                    entries[i].timestamp = entry.timestamp
                }
            }
        }
    }

    /// About what the content holds in memory: keys twice (entries and index), plus per-entry
    /// overhead. For the self-metric of what a pass holds.
    var heldBytes: Int { 2 * keyBytes + entries.count * 96 }

    /// Where each entry's value lies in ``bytes``, by key.
    var valueOffsets: [[UInt8]: Int] {
        var offsets: [[UInt8]: Int] = [:]
        var position = EntryParser.headerSize
        for entry in entries {
            position += 4 + entry.key.count + (8 - (entry.key.count + 4) % 8)
            offsets[entry.key] = position
            position += 16
        }
        return offsets
    }

    /// The file, as prometheus_client's writer lays it out: 64 KiB doubled until it fits.
    var bytes: [UInt8] {
        var image = FileImage.build(entries, valueWidth: 16)
        var size = 1 << 16
        while size < image.count { size *= 2 }
        image += [UInt8](repeating: 0, count: size - image.count)
        return image
    }
}

/// A file that cannot be folded (it stays as it is, and is reported).
struct FoldError: Error, CustomStringConvertible {
    let file: String
    let reason: String
    var description: String { "\(file): \(reason)" }
}
