// MARK: - Interned keys

/// Every distinct raw key seen in any file, decoded once and named by a dense integer id.
///
/// The same few thousand keys repeat in every worker's file, so an entry costs one hash of
/// its key bytes and one comparison; JSON is decoded once per distinct key. Lookups take the
/// bytes straight from the mapping, without building a `String` or an `Array`.
struct KeyTable {
    typealias ID = Int32

    private var arena: [UInt8] = []
    private var spans: [(offset: Int, length: Int, hash: UInt64)] = []
    private var slots: [Int32] = Array(repeating: -1, count: 1024)
    /// The key that followed each key in the file where it was last seen. Workers create
    /// their series in the same order, so the next entry of a file is usually the successor
    /// of the previous one: one comparison instead of a hash and a probe.
    private var successor: [ID] = []
    /// Decoded key for each id (or why it could not be decoded).
    private(set) var decoded: [Result<SampleKey, KeyDecodingError>] = []
    /// The shape of each id's key, nil when it did not decode: the per-entry hot path
    /// compares it with the shape its file's ``FileLayout`` has.
    private(set) var shapes: [KeyShape?] = []

    var count: Int { spans.count }

    /// The id of `bytes`, decoding and adding the key if it is new. `previous` is the id of
    /// the entry before it in the same file (or -1), used to guess the answer.
    mutating func intern(_ bytes: UnsafeRawBufferPointer, after previous: ID) -> ID {
        if previous >= 0 {
            let guess = successor[Int(previous)]
            if guess >= 0, equals(guess, bytes) { return guess }
            let id = intern(bytes)
            successor[Int(previous)] = id
            return id
        }
        return intern(bytes)
    }

    @inline(__always)
    private func equals(_ id: ID, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let span = spans[Int(id)]
        guard span.length == bytes.count else { return false }
        return arena.withUnsafeBytes { arenaBytes in
            memcmpEqual(UnsafeRawBufferPointer(rebasing: arenaBytes[span.offset..<(span.offset + span.length)]), bytes)
        }
    }

    /// The id of `bytes`, decoding and adding the key if it is new.
    mutating func intern(_ bytes: UnsafeRawBufferPointer) -> ID {
        if let id = lookup(bytes, hash: Self.hash(bytes)) { return id }
        // A new key: hash, store and decode one private copy. `bytes` lie in a shared mapping
        // that a file rewritten in place can change between two reads; decoding a torn read
        // while storing the whole key would mark that key invalid for good.
        let copy = [UInt8](bytes)
        return copy.withUnsafeBytes { insert($0, hash: Self.hash($0)) }
    }

    private func lookup(_ bytes: UnsafeRawBufferPointer, hash: UInt64) -> ID? {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let id = slots[i]
            if id < 0 { return nil }
            if spans[Int(id)].hash == hash, equals(id, bytes) { return id }
            i = (i + 1) & mask
        }
    }

    /// Adds the keys of `other` (a table filled by another thread) for which `include` holds,
    /// and returns, for each of its ids, the id here (-1 for keys left out). Keys already
    /// decoded there are not decoded again.
    mutating func adopt(_ other: KeyTable, where include: (ID) -> Bool = { _ in true }) -> [ID] {
        var newIDs = [ID](repeating: -1, count: other.count)
        other.arena.withUnsafeBytes { arena in
            for (local, span) in other.spans.enumerated() where include(ID(local)) {
                let bytes = UnsafeRawBufferPointer(rebasing: arena[span.offset..<(span.offset + span.length)])
                newIDs[local] = lookup(bytes, hash: span.hash)
                    ?? insert(bytes, hash: span.hash, known: (other.decoded[local], other.shapes[local]))
            }
        }
        return newIDs
    }

    /// Tables smaller than this are never trimmed: a few thousand keys cost little.
    static let trimThreshold = 8192

    /// A table holding only the keys marked in `used` (indexed by id), and for every id of
    /// this table its id in the new one (-1 for keys left out).
    func keeping(_ used: [Bool]) -> (KeyTable, [ID]) {
        var kept = KeyTable()
        let newIDs = kept.adopt(self) { used[Int($0)] }
        return (kept, newIDs)
    }

    private mutating func insert(_ bytes: UnsafeRawBufferPointer, hash: UInt64,
                                 known: (Result<SampleKey, KeyDecodingError>, KeyShape?)? = nil) -> ID {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let id = slots[i]
            if id < 0 { break }
            if spans[Int(id)].hash == hash, equals(id, bytes) { return id }
            i = (i + 1) & mask
        }
        let id = ID(spans.count)
        spans.append((arena.count, bytes.count, hash))
        successor.append(-1)
        arena.append(contentsOf: bytes)
        let (result, shape) = known ?? Self.decode(bytes)
        decoded.append(result)
        shapes.append(shape)
        slots[i] = id
        if spans.count * 2 > slots.count { grow() }
        return id
    }

    private static func decode(_ bytes: UnsafeRawBufferPointer) -> (Result<SampleKey, KeyDecodingError>, KeyShape?) {
        do {
            let (key, shape) = try SampleKey.decodeAnyShape(bytes)
            return (.success(key), shape)
        } catch {
            return (.failure(error), nil)
        }
    }

    private mutating func grow() {
        var newSlots = [Int32](repeating: -1, count: slots.count * 2)
        let mask = newSlots.count - 1
        for (id, span) in spans.enumerated() {
            var i = Int(truncatingIfNeeded: span.hash) & mask
            while newSlots[i] >= 0 { i = (i + 1) & mask }
            newSlots[i] = Int32(id)
        }
        slots = newSlots
    }

    /// 64-bit FNV-1a over 8-byte words, finished with a multiply-xorshift mix.
    private static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x0000_0100_0000_01B3
            h ^= h >> 29
            i += 8
        }
        while i < n {
            h = (h ^ UInt64(bytes[i])) &* 0x0000_0100_0000_01B3
            i += 1
        }
        h ^= UInt64(n)
        h = (h ^ (h >> 33)) &* 0xff51_afd7_ed55_8ccd
        h = (h ^ (h >> 33)) &* 0xc4ce_b9fe_1a85_ec53
        return h ^ (h >> 33)
    }
}

@inline(__always)
func memcmpEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    if a.count == 0 { return true }
    return memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
}

import Glibc
