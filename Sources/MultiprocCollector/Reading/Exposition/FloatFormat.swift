// MARK: - Python `repr(float)` and prometheus_client's `floatToGoString`

/// Float formatting exactly as prometheus_client 0.26.0 renders sample values and `le` bounds.
///
/// `floatToGoString` is Python's `repr(float)` (the shortest digit string that round-trips),
/// except that infinities and NaN are spelled `+Inf`, `-Inf`, `NaN`, and positive values whose
/// `repr` has more than six digits before the dot switch to Go's exponent form
/// (`12345678.5` → `1.23456785e+07`).
public enum FloatFormat {

    /// The bytes prometheus_client writes for `value` (its `floatToGoString`).
    public static func goString(_ value: Double) -> String {
        var out: [UInt8] = []
        appendGoString(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Python's `repr(value)` for a float.
    public static func pythonRepr(_ value: Double) -> String {
        var out: [UInt8] = []
        appendPythonRepr(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `floatToGoString(value)` to `out`.
    public static func appendGoString(_ value: Double, to out: inout [UInt8]) {
        if value.isNaN { out.append(contentsOf: nanBytes); return }
        if value.isInfinite { out.append(contentsOf: value < 0 ? minusInfBytes : plusInfBytes); return }
        // Small integers are by far the most common sample values: format them directly.
        if value >= 0, value < 1_000_000, value == value.rounded(.towardZero), !(value == 0 && value.sign == .minus) {
            appendDecimal(UInt64(value), to: &out)
            out.append(UInt8(ascii: "."))
            out.append(UInt8(ascii: "0"))
            return
        }
        let digits = ShortestDigits(value)
        // Python uses positional notation for -4 < decpt <= 16; `dot` is the index of '.' in repr.
        if value > 0, digits.decimalPoint > 6, digits.decimalPoint <= 16 {
            // Go style: d.ddd…e+XX with trailing zeros (and a bare dot) stripped from the mantissa.
            var mantissa: [UInt8] = [digits.digits[0], UInt8(ascii: ".")]
            let integerDigits = digits.decimalPoint
            for i in 1..<max(integerDigits, digits.digits.count) {
                mantissa.append(i < digits.digits.count ? digits.digits[i] : UInt8(ascii: "0"))
            }
            // `repr` always has ".0" or fractional digits after the integer part.
            if digits.digits.count <= integerDigits { mantissa.append(UInt8(ascii: "0")) }
            while let last = mantissa.last, last == UInt8(ascii: "0") || last == UInt8(ascii: ".") {
                mantissa.removeLast()
            }
            out.append(contentsOf: mantissa)
            out.append(contentsOf: Array("e+".utf8))
            let exponent = integerDigits - 1
            if exponent < 10 { out.append(UInt8(ascii: "0")) }
            appendDecimal(UInt64(exponent), to: &out)
            return
        }
        appendRepr(digits, negative: value.sign == .minus, to: &out)
    }

    /// Appends Python's `repr(value)` to `out`.
    public static func appendPythonRepr(_ value: Double, to out: inout [UInt8]) {
        if value.isNaN { out.append(contentsOf: Array("nan".utf8)); return }
        if value.isInfinite { out.append(contentsOf: Array((value < 0 ? "-inf" : "inf").utf8)); return }
        appendRepr(ShortestDigits(value), negative: value.sign == .minus, to: &out)
    }

    // MARK: Internals

    private static let nanBytes = Array("NaN".utf8)
    private static let plusInfBytes = Array("+Inf".utf8)
    private static let minusInfBytes = Array("-Inf".utf8)

    /// Python's `float_repr_style = 'short'` layout of shortest digits (CPython `format_float_short`,
    /// type 'r'): exponent form when `decpt <= -4 or decpt > 16`, otherwise positional with ".0"
    /// added to integers.
    private static func appendRepr(_ d: ShortestDigits, negative: Bool, to out: inout [UInt8]) {
        if negative { out.append(UInt8(ascii: "-")) }
        let n = d.digits.count
        let decpt = d.decimalPoint
        if decpt <= -4 || decpt > 16 {
            out.append(d.digits[0])
            if n > 1 {
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: d.digits[1...])
            }
            let exponent = decpt - 1
            out.append(UInt8(ascii: "e"))
            out.append(UInt8(ascii: exponent < 0 ? "-" : "+"))
            let magnitude = UInt64(abs(exponent))
            if magnitude < 10 { out.append(UInt8(ascii: "0")) }
            appendDecimal(magnitude, to: &out)
        } else if decpt <= 0 {
            out.append(UInt8(ascii: "0"))
            out.append(UInt8(ascii: "."))
            for _ in 0..<(-decpt) { out.append(UInt8(ascii: "0")) }
            out.append(contentsOf: d.digits)
        } else if decpt >= n {
            out.append(contentsOf: d.digits)
            for _ in 0..<(decpt - n) { out.append(UInt8(ascii: "0")) }
            out.append(UInt8(ascii: "."))
            out.append(UInt8(ascii: "0"))
        } else {
            out.append(contentsOf: d.digits[0..<decpt])
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: d.digits[decpt...])
        }
    }

    static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        if value < 10 { out.append(UInt8(ascii: "0") &+ UInt8(value)); return }
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: enough for 20 digits
        var v = value
        var count = 0
        withUnsafeMutableBytes(of: &buffer) { raw in
            while v > 0 {
                raw[23 - count] = UInt8(ascii: "0") &+ UInt8(v % 10)
                v /= 10
                count += 1
            }
            out.append(contentsOf: raw[(24 - count)...])
        }
    }
}

/// The shortest decimal digits that round-trip a finite double, as `0.d₁d₂…dₙ × 10^decimalPoint`.
///
/// Swift's `description` already produces the shortest round-tripping digits (closest to the
/// exact value, like David Gay's mode 0 that CPython uses); only its layout differs from
/// Python's, so the digits are lifted out of it and re-laid out by the caller.
struct ShortestDigits {
    var digits: [UInt8]
    var decimalPoint: Int

    init(_ value: Double) {
        let magnitude = value.magnitude
        if magnitude == 0 {
            digits = [UInt8(ascii: "0")]
            decimalPoint = 1
            return
        }
        // Integers below 2^53 are all representable, so no shorter digit string can round-trip
        // to them: their shortest digits are their own (trailing zeros dropped).
        if magnitude < 9_007_199_254_740_992, magnitude == magnitude.rounded(.towardZero) {
            var integer: [UInt8] = []
            FloatFormat.appendDecimal(UInt64(magnitude), to: &integer)
            decimalPoint = integer.count
            while integer.count > 1, integer.last == UInt8(ascii: "0") { integer.removeLast() }
            digits = integer
            return
        }
        var digits: [UInt8] = []
        digits.reserveCapacity(17)
        var pointIndex: Int? = nil
        var exponent = 0
        var seenNonZero = false
        var leadingZerosAfterPoint = 0
        var iterator = magnitude.description.utf8.makeIterator()
        while let c = iterator.next() {
            switch c {
            case UInt8(ascii: "."):
                pointIndex = digits.count
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                var sign = 1
                var e = 0
                while let x = iterator.next() {
                    if x == UInt8(ascii: "-") { sign = -1 } else if x == UInt8(ascii: "+") { continue } else {
                        e = e * 10 + Int(x &- UInt8(ascii: "0"))
                    }
                }
                exponent = sign * e
            default:
                if c == UInt8(ascii: "0") && !seenNonZero {
                    if pointIndex != nil { leadingZerosAfterPoint += 1 }
                    continue
                }
                seenNonZero = true
                digits.append(c)
            }
        }
        // Digits before the point (excluding leading zeros, which only occur as "0.xxx").
        let integerDigits = pointIndex ?? digits.count
        var decpt: Int
        if integerDigits == 0 {
            decpt = -leadingZerosAfterPoint
        } else {
            decpt = integerDigits
        }
        decpt += exponent
        while digits.count > 1, digits.last == UInt8(ascii: "0") { digits.removeLast() }
        self.digits = digits
        self.decimalPoint = decpt
    }
}
