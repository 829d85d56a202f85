// MARK: - The entries parsed from one content of a file

/// The entries parsed from one content of a file, in file order, with their values as last
/// loaded: entry `i` has key `keyIDs[i]`, and its value (and timestamp) lie at
/// `valueOffsets[i]` in the file.
///
/// Invariant: `keyIDs`, `valueOffsets` and `values` have one element per entry, and
/// `timestamps` has one per entry or none (a file without timestamps: every one is 0, as
/// Python reads an entry without one). Entries are only appended; a content whose entries
/// change in any other way starts a new, empty list (``TrackedFile/startOver(_:)``, a new
/// epoch), which is what lets a merge plan slot only the entries added since it last looked
/// (``PlanBuilder``).
struct ParsedEntries {
    private(set) var keyIDs: [KeyTable.ID] = []
    private(set) var valueOffsets: [Int32] = []
    /// As of the last ``load(from:timestamps:)``: 0 for entries appended since.
    private(set) var values: [Double] = []
    /// As of the last ``load(from:timestamps:)`` that asked for them; empty until then.
    private(set) var timestamps: [Double] = []

    var count: Int { valueOffsets.count }

    /// Appends the entries parsed since the last call: `keyIDs[i]` and `valueOffsets[i]` are
    /// one entry's. Their values (and timestamps, if kept) are 0 until the next load.
    mutating func append(keyIDs newKeys: [KeyTable.ID], valueOffsets newOffsets: [Int32]) {
        precondition(newKeys.count == newOffsets.count, "one key and one value offset per entry")
        if keyIDs.isEmpty {
            // A content read from its first entry (the common case) takes the arrays as they are.
            keyIDs = newKeys
            valueOffsets = newOffsets
        } else {
            keyIDs += newKeys
            valueOffsets += newOffsets
        }
        values += repeatElement(0, count: newKeys.count)
        if !timestamps.isEmpty { timestamps += repeatElement(0, count: newKeys.count) }
    }

    /// Renumbers the key ids of entries `from` on: `newIDs[old id]` is the new id (a lane's
    /// table adopted into the collector's, or the collector's table rebuilt).
    mutating func renumberKeys(from start: Int = 0, _ newIDs: [KeyTable.ID]) {
        guard start < keyIDs.count else { return }
        keyIDs.withUnsafeMutableBufferPointer { ids in
            for i in start..<ids.count { ids[i] = newIDs[Int(ids[i])] }
        }
    }

    /// Loads every value, and every timestamp when `withTimestamps` (only `mostrecent` gauges
    /// use them, and only layouts that store them have any), from `bytes`: a mapping of the
    /// content the entries were parsed from, read inside the SIGBUS guard.
    mutating func load(from bytes: UnsafeRawBufferPointer, timestamps withTimestamps: Bool) {
        let count = valueOffsets.count
        if withTimestamps, timestamps.count != count { timestamps = [Double](repeating: 0, count: count) }
        valueOffsets.withUnsafeBufferPointer { offsets in
            values.withUnsafeMutableBufferPointer { out in
                for i in 0..<count {
                    out[i] = bytes.loadUnaligned(fromByteOffset: Int(offsets[i]), as: Double.self)
                }
            }
            if withTimestamps {
                timestamps.withUnsafeMutableBufferPointer { out in
                    for i in 0..<count {
                        out[i] = bytes.loadUnaligned(fromByteOffset: Int(offsets[i]) + 8, as: Double.self)
                    }
                }
            }
        }
    }
}
