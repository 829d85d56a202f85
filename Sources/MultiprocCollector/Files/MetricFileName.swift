// MARK: - Which files are metric files

/// The metric type a file holds, from the first part of its name.
public enum MetricType: String, Sendable, Hashable, CaseIterable {
    case counter, gauge, histogram, summary
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
        var bytes = Array(name.utf8)
        guard bytes.count > 3, bytes.suffix(3).elementsEqual(".db".utf8) else { return nil }
        bytes.removeLast(3)
        let parts = bytes.split(separator: UInt8(ascii: "_"), omittingEmptySubsequences: false)
        guard let typeName = parts.first, let type = MetricType(rawValue: String(decoding: typeName, as: UTF8.self)) else { return nil }
        let pidPart: ArraySlice<UInt8>
        if type == .gauge {
            guard parts.count == 3, let mode = GaugeMode(rawValue: String(decoding: parts[1], as: UTF8.self)) else { return nil }
            gaugeMode = mode
            pidPart = parts[2]
        } else {
            guard parts.count == 2 else { return nil }
            gaugeMode = nil
            pidPart = parts[1]
        }
        guard !pidPart.isEmpty, pidPart.count <= Self.maxPidDigits, pidPart.allSatisfy(NameEscaping.isASCIIDigit) else { return nil }
        self.type = type
        self.pid = String(decoding: pidPart, as: UTF8.self)
    }

    /// The live gauge file names mark-dead removes for `pid`.
    static func liveGaugeFileNames(pid: Int) -> [String] {
        GaugeMode.liveModes.map { "gauge_\($0.rawValue)_\(pid).db" }
    }
}
