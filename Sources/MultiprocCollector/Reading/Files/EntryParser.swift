// MARK: - The mmap file layout, read without trusting it

/// Where one entry's key and value live inside its file.
struct RawEntry {
    var keyStart: Int32
    var keyLength: Int32
    var valueOffset: Int32
}

/// Parses the entry list of a metric file (docs/design.md §2):
///
///     offset 0: int32 used · 4 bytes padding
///     entries from 8 to used: int32 n · n bytes key · 1…8 spaces to 8-byte alignment · f64 value · f64 timestamp
///
/// Files written before prometheus_client 0.18 have no timestamp: the caller passes the
/// ``FileLayout/valueWidth`` (16 or 8) of the file's layout.
///
/// Nothing in the file is trusted: every length is checked against `used` and against the
/// bytes actually available, and parsing stops (keeping the entries before it) at the first
/// entry that does not fit.
enum EntryParser {

    static let headerSize = 8

    struct Outcome {
        var entries: [RawEntry] = []
        /// Offset just past the last complete entry.
        var end: Int
        /// Set when an entry inside `used` is corrupt; nothing after it can be trusted.
        var problem: (FileProblem.Reason, String)?
    }

    /// The `used` field of the header (little-endian int32).
    @inline(__always)
    static func readUsed(_ bytes: UnsafeRawBufferPointer) -> Int {
        Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: Int32.self)))
    }

    /// What is wrong with the header, if anything: `used` below 8 or past the end of the file.
    static func headerProblem(used: Int, fileSize: Int) -> (FileProblem.Reason, String)? {
        if fileSize < headerSize { return (.shortHeader, "file is \(fileSize) bytes, shorter than the 8-byte header") }
        if used < headerSize { return (.usedBelowHeader, "used=\(used) is below the 8-byte header") }
        if used > fileSize { return (.usedBeyondFile, "used=\(used) is past the end of the \(fileSize)-byte file; entries that fit are kept") }
        return nil
    }

    /// Parses the entries between `start` (8, or where the previous parse ended) and `used`,
    /// never reading past `bytes.count`. An entry cut off by the end of the file when `used`
    /// lies beyond it is left for ``headerProblem(used:fileSize:)`` to report.
    static func parse(_ bytes: UnsafeRawBufferPointer, from start: Int, used: Int, valueWidth: Int) -> Outcome {
        var entries: [RawEntry] = []
        // Entries are rarely shorter than 64 bytes (4 + key + padding + 16).
        entries.reserveCapacity(max(0, min(used, bytes.count) - start) / 64)
        var outcome = parse(bytes, from: start, used: used, valueWidth: valueWidth) { entries.append($0) }
        outcome.entries = entries
        return outcome
    }

    /// The same walk, handing each entry to `visit` as soon as it is validated, so a caller
    /// that reads the key streams through the file once (`entries` stays empty). Stops after
    /// `maxEntries` entries (then `end` is where the next one starts).
    @inline(__always)
    static func parse(_ bytes: UnsafeRawBufferPointer, from start: Int, used: Int, valueWidth: Int,
                      maxEntries: Int = .max, visit: (RawEntry) -> Void) -> Outcome {
        var outcome = Outcome(end: start)
        let limit = min(used, bytes.count)
        let cutByFileEnd = used > bytes.count
        var pos = start
        var count = 0
        while pos < limit, count < maxEntries {
            guard limit - pos >= 4 else {
                if !cutByFileEnd { outcome.problem = (.truncatedEntry, "entry at offset \(pos) is cut off by used=\(used)") }
                break
            }
            let n = Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: pos, as: Int32.self)))
            guard n > 0, n <= limit - pos - 4 else {
                if n <= 0 || !cutByFileEnd {
                    outcome.problem = (.keyLengthOutOfBounds, "entry at offset \(pos) has key length \(n), outside 1...\(used - pos - 4)")
                }
                break
            }
            let padded = n + (8 - (n + 4) % 8)
            let valueOffset = pos + 4 + padded
            guard valueOffset <= limit - valueWidth else {
                if !cutByFileEnd { outcome.problem = (.truncatedEntry, "value of entry at offset \(pos) runs past used=\(used)") }
                break
            }
            visit(RawEntry(keyStart: Int32(pos + 4), keyLength: Int32(n), valueOffset: Int32(valueOffset)))
            count += 1
            pos = valueOffset + valueWidth
        }
        outcome.end = pos
        return outcome
    }
}
