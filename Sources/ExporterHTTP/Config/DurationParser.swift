/// Go-style durations as Prometheus flags take them: `0`, `0s`, `500ms`, `2s`, `1.5m`, `1h30m`.
public enum DurationParser {
    /// Seconds, or a ``ConfigurationError`` naming the bad value.
    public static func seconds(_ text: String) throws(ConfigurationError) -> Double {
        let bad = ConfigurationError("invalid duration \"\(text)\": use a number with a unit, e.g. 0s, 500ms, 2s, 1m")
        if text == "0" { return 0 }
        var rest = Substring(text)
        guard !rest.isEmpty else { throw bad }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number) else { throw bad }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter || $0 == "µ" }
            rest = rest.dropFirst(unit.count)
            guard let scale = units[String(unit)] else { throw bad }
            total += value * scale
        }
        return total
    }

    private static let units: [String: Double] = [
        "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600,
    ]
}
