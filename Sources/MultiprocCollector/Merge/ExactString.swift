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
        utf8.elementsEqual(other.utf8)
    }

    /// Ordering by UTF-8 bytes, which is code point order, as Python sorts strings.
    @inline(__always)
    func exactlyPrecedes(_ other: String) -> Bool {
        utf8.lexicographicallyPrecedes(other.utf8)
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
