/// Sizes as Prometheus flags take them (`--storage.tsdb.retention.size`): a whole number with
/// an optional unit `B`, `KB`, `MB`, `GB` (powers of 1024), or `KiB`, `MiB`, `GiB`.
public enum ByteSizeParser {
    /// Bytes, or a ``ConfigurationError`` naming the bad value.
    public static func bytes(_ text: String) throws(ConfigurationError) -> Int {
        let bad = ConfigurationError("invalid size \"\(text)\": use a whole number with an optional unit, e.g. 512KB, 16MB")
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let number = Int(digits), let scale = units[String(text.dropFirst(digits.count))] else { throw bad }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: scale)
        guard !overflow else { throw bad }
        return bytes
    }

    private static let units: [String: Int] = [
        "": 1, "B": 1, "KB": 1 << 10, "KiB": 1 << 10, "MB": 1 << 20, "MiB": 1 << 20, "GB": 1 << 30, "GiB": 1 << 30,
    ]
}
