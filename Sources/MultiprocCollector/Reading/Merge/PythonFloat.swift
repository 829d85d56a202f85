// MARK: - Python's float() for `le` label values

/// Python's `float(str)` for the strings a bucket bound can hold.
enum PythonFloat {

    /// Parses like Python's `float()`: surrounding whitespace, optional sign, `inf`/`infinity`/
    /// `nan` in any case, decimal digits with single underscores between digits, optional
    /// fraction and exponent. Returns nil where Python raises `ValueError`.
    static func parse(_ text: String) -> Double? {
        let stripped = ExpositionFormat.pyStrip(Substring(text))
        var bytes = Array(stripped.utf8)
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
        var negative = false
        var body = bytes[...]
        if let first = body.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            negative = first == UInt8(ascii: "-")
            body = body.dropFirst()
        }
        let lowered = String(decoding: body, as: UTF8.self).lowercased()
        if lowered == "inf" || lowered == "infinity" { return negative ? -.infinity : .infinity }
        if lowered == "nan" { return .nan }
        guard isDecimalLiteral(body) else { return nil }
        bytes.removeAll { $0 == UInt8(ascii: "_") }
        return Double(String(decoding: bytes, as: UTF8.self))
    }

    /// `digits [. digits] [e [sign] digits]` where at least one mantissa digit exists and each
    /// underscore sits between two digits.
    private static func isDecimalLiteral(_ s: ArraySlice<UInt8>) -> Bool {
        var i = s.startIndex
        func digitRun() -> Int {
            var count = 0
            while i < s.endIndex {
                let b = s[i]
                if NameEscaping.isASCIIDigit(b) { count += 1; i += 1; continue }
                if b == UInt8(ascii: "_"), count > 0, i + 1 < s.endIndex, NameEscaping.isASCIIDigit(s[i + 1]) { i += 1; continue }
                break
            }
            return count
        }
        var mantissaDigits = digitRun()
        if i < s.endIndex, s[i] == UInt8(ascii: ".") {
            i += 1
            mantissaDigits += digitRun()
        }
        guard mantissaDigits > 0 else { return false }
        if i < s.endIndex, s[i] == UInt8(ascii: "e") || s[i] == UInt8(ascii: "E") {
            i += 1
            if i < s.endIndex, s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-") { i += 1 }
            guard digitRun() > 0 else { return false }
        }
        return i == s.endIndex
    }

}

// MARK: - CPython's list.sort, for lists that hold NaN

/// CPython 3.11's `list.sort` for short lists (fewer than 64 items, one run): `count_run`
/// then binary insertion. With a total order any sort gives the same result; with NaN
/// (never less than anything, nothing less than it) only the same algorithm puts items where
/// Python does — and histogram buckets with a NaN bound are cumulated in that order.
enum PythonListSort {
    static func sorted<T>(_ items: [T], by isLess: (T, T) -> Bool) -> [T] {
        var a = items
        let n = a.count
        if n < 2 { return a }
        // count_run: a strictly descending prefix is reversed; otherwise a non-descending one.
        var run = 2
        if isLess(a[1], a[0]) {
            while run < n, isLess(a[run], a[run - 1]) { run += 1 }
            a[0..<run].reverse()
        } else {
            while run < n, !isLess(a[run], a[run - 1]) { run += 1 }
        }
        // binarysort(lo, hi, start = lo + run)
        var start = run
        while start < n {
            let pivot = a[start]
            var l = 0
            var r = start
            repeat {
                let p = l + (r - l) >> 1
                if isLess(pivot, a[p]) { r = p } else { l = p + 1 }
            } while l < r
            var p = start
            while p > l { a[p] = a[p - 1]; p -= 1 }
            a[l] = pivot
            start += 1
        }
        return a
    }
}
