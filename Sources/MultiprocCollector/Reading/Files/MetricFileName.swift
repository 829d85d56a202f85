// MARK: - Which files are metric files

/// The type of a metric family: what a `.db` file holds (the first part of its name), or what
/// a textfile's `# TYPE` line says.
public enum MetricType: String, Sendable, Hashable, CaseIterable {
    case counter, gauge, histogram, summary
    /// prometheus_client's `unknown`: `# TYPE … untyped` in the text format, `unknown` in
    /// OpenMetrics. Only textfiles have it (a `.db` file name never does).
    case unknown

    /// The types a `.db` file can hold, in the order of its name's first part.
    public static let fileTypes: [MetricType] = [.counter, .gauge, .histogram, .summary]
}

/// How the values of one gauge are combined across processes (`multiprocess_mode`).
public enum GaugeMode: String, Sendable, Hashable, CaseIterable {
    case all, liveAll = "liveall"
    case min, liveMin = "livemin"
    case max, liveMax = "livemax"
    case sum, liveSum = "livesum"
    case mostRecent = "mostrecent", liveMostRecent = "livemostrecent"

    /// `live*` modes count only running processes: their files are removed by mark-dead.
    public var isLive: Bool { rawValue.hasPrefix("live") }

    /// Modes whose files mark-dead deletes.
    public static let liveModes: [GaugeMode] = allCases.filter(\.isLive)
}

/// A file name the Python writer produces: `counter_<pid>.db`, `histogram_<pid>.db`,
/// `summary_<pid>.db` or `gauge_<mode>_<pid>.db`, with `<pid>` a non-empty run of ASCII digits.
///
/// Anything else (`foo.db`, `counter_.db`, `counter_abc.db`, `gauge_weird_1.db`, temp files)
/// is not a metric file and is never opened.
public struct MetricFileName: Hashable, Sendable, CustomStringConvertible {
    public let type: MetricType
    /// Set for gauges only.
    public let gaugeMode: GaugeMode?
    /// The pid exactly as written in the name (it becomes the `pid` label of `all` gauges).
    public let pid: String

    public var description: String {
        if let gaugeMode { return "gauge_\(gaugeMode.rawValue)_\(pid).db" }
        return "\(type.rawValue)_\(pid).db"
    }

    /// Longest pid accepted: Linux pids have at most 7 digits; 20 leaves room for custom
    /// `process_identifier` values without accepting absurd names.
    static let maxPidDigits = 20

    /// Parses `name`, or returns nil when it is not a metric file name.
    public init?(_ name: String) {
        var copy = name
        guard let parsed = copy.withUTF8({ Self.parse(UnsafeRawBufferPointer($0)) }) else { return nil }
        (type, gaugeMode, pid) = parsed
    }

    /// Splits `<type>_[<mode>_]<pid>.db` without allocating for names that do not match.
    private static func parse(_ bytes: UnsafeRawBufferPointer) -> (MetricType, GaugeMode?, String)? {
        let n = bytes.count
        guard n > 3, bytes[n - 3] == UInt8(ascii: "."), bytes[n - 2] == UInt8(ascii: "d"), bytes[n - 1] == UInt8(ascii: "b") else { return nil }
        let stem = UnsafeRawBufferPointer(rebasing: bytes[0..<(n - 3)])
        guard let firstUnderscore = stem.firstIndex(of: UInt8(ascii: "_")) else { return nil }
        let typeName = String(decoding: stem[..<firstUnderscore], as: UTF8.self)
        guard let type = MetricType(rawValue: typeName), type != .unknown else { return nil }
        var rest = UnsafeRawBufferPointer(rebasing: stem[(firstUnderscore + 1)...])
        var mode: GaugeMode?
        if type == .gauge {
            guard let underscore = rest.firstIndex(of: UInt8(ascii: "_")),
                  let parsedMode = GaugeMode(rawValue: String(decoding: rest[..<underscore], as: UTF8.self)) else { return nil }
            mode = parsedMode
            rest = UnsafeRawBufferPointer(rebasing: rest[(underscore + 1)...])
        }
        guard !rest.isEmpty, rest.count <= maxPidDigits, rest.allSatisfy(NameEscaping.isASCIIDigit) else { return nil }
        return (type, mode, String(decoding: rest, as: UTF8.self))
    }

    /// The same kind of file for another pid.
    func renamed(pid: String) -> String {
        MetricFileName(type: type, gaugeMode: gaugeMode, pid: pid).description
    }

    private init(type: MetricType, gaugeMode: GaugeMode?, pid: String) {
        self.type = type
        self.gaugeMode = gaugeMode
        self.pid = pid
    }

    /// The live gauge file names mark-dead removes for `pid`.
    static func liveGaugeFileNames(pid: Int) -> [String] {
        GaugeMode.liveModes.map { "gauge_\($0.rawValue)_\(pid).db" }
    }
}
