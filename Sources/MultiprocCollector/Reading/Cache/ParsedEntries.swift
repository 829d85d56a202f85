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

    mutating func reserveCapacity(adding extra: Int) {
        keyIDs.reserveCapacity(keyIDs.count + extra)
        valueOffsets.reserveCapacity(valueOffsets.count + extra)
        values.reserveCapacity(values.count + extra)
    }

    mutating func append(key: KeyTable.ID, valueOffset: Int32) {
        keyIDs.append(key)
        valueOffsets.append(valueOffset)
        values.append(0)
        if !timestamps.isEmpty { timestamps.append(0) }
    }

    /// Renumbers the key ids of entries `from` on: `mapping[old id]` is the new id (a lane's
    /// table adopted into the collector's, or the collector's table rebuilt).
    mutating func renumberKeys(from start: Int = 0, _ mapping: [KeyTable.ID]) {
        guard start < keyIDs.count else { return }
        keyIDs.withUnsafeMutableBufferPointer { ids in
            for i in start..<ids.count { ids[i] = mapping[Int(ids[i])] }
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
