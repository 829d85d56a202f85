import Glibc
import Logging

/// What both log formats share: level names, timestamps, metadata merging, writing to stderr.
public enum LogLine {
    /// Prometheus-style level names (`warn`, not `warning`).
    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: "debug"
        case .info, .notice: "info"
        case .warning: "warn"
        case .error, .critical: "error"
        }
    }

    /// Parses `--log.level` (debug, info, warn, error).
    public static func level(named name: String) -> Logger.Level? {
        switch name.lowercased() {
        case "debug": .debug
        case "info": .info
        case "warn", "warning": .warning
        case "error": .error
        default: nil
        }
    }

    /// RFC 3339 UTC with milliseconds: `2025-01-02T03:04:05.678Z`.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var seconds = ts.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }

    /// Handler metadata, provider metadata and call metadata, later ones winning, sorted by key.
    static func merged(_ handler: Logger.Metadata, _ provider: Logger.MetadataProvider?, _ call: Logger.Metadata?) -> [(String, Logger.MetadataValue)] {
        var all = handler
        if let provider { all.merge(provider.get()) { $1 } }
        if let call { all.merge(call) { $1 } }
        return all.sorted { $0.key < $1.key }
    }

    /// Flattens a metadata value to text.
    static func text(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let values): "[" + values.map(text).joined(separator: ",") + "]"
        case .dictionary(let d): "{" + d.sorted { $0.key < $1.key }.map { "\($0.key)=\(text($0.value))" }.joined(separator: ",") + "}"
        }
    }

    /// One `write(2)` per line so that concurrent lines do not interleave.
    public static func write(_ line: String) {
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }
}

/// `--log.format`.
public enum LogFormat: String, Sendable, CaseIterable {
    case logfmt, json

    /// A handler writing this format at `level` to stderr.
    public func makeHandler(level: Logger.Level) -> any LogHandler {
        switch self {
        case .logfmt: LineLogHandler(format: .logfmt, level: level)
        case .json: LineLogHandler(format: .json, level: level)
        }
    }
}
