import Glibc

// MARK: - Byte-exact string identity

/// A `String` compared and hashed by its UTF-8 bytes.
///
/// Swift's `String` equality is Unicode canonical equivalence ("é" precomposed equals "e" +
/// combining acute), while Python compares code points. Label values that differ only in
/// normalization are different series in prometheus_client, so every identity in the merge
/// goes through this wrapper.
struct ExactString: Hashable, Sendable {
    let value: String

    init(_ value: String) { self.value = value }

    static func == (a: ExactString, b: ExactString) -> Bool { a.value.exactlyEquals(b.value) }

    func hash(into hasher: inout Hasher) { value.hashExactly(into: &hasher) }
}

extension String {
    /// Equality of UTF-8 bytes (code points), not canonical equivalence.
    @inline(__always)
    func exactlyEquals(_ other: String) -> Bool {
        utf8.count == other.utf8.count && exactCompare(other) == 0
    }

    /// Ordering by UTF-8 bytes, which is code point order, as Python sorts strings.
    @inline(__always)
    func exactlyPrecedes(_ other: String) -> Bool {
        exactCompare(other) < 0
    }

    /// Three-way comparison of UTF-8 bytes (memcmp on native contiguous storage).
    func exactCompare(_ other: String) -> Int {
        let fast = utf8.withContiguousStorageIfAvailable { a in
            other.utf8.withContiguousStorageIfAvailable { b -> Int in
                let common = Swift.min(a.count, b.count)
                if common > 0 {
                    let r = memcmp(a.baseAddress!, b.baseAddress!, common)
                    if r != 0 { return r < 0 ? -1 : 1 }
                }
                return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
            }
        }
        if let result = fast ?? nil { return result }
        if utf8.elementsEqual(other.utf8) { return 0 }
        return utf8.lexicographicallyPrecedes(other.utf8) ? -1 : 1
    }

    func hashExactly(into hasher: inout Hasher) {
        var copy = self
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(utf8.count)
    }
}

extension Label {
    public static func == (a: Label, b: Label) -> Bool {
        a.name.exactlyEquals(b.name) && a.value.exactlyEquals(b.value)
    }

    public func hash(into hasher: inout Hasher) {
        name.hashExactly(into: &hasher)
        value.hashExactly(into: &hasher)
    }
}
