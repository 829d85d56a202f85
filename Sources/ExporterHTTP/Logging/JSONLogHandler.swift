import Logging

/// Writes one JSON object per line to stderr (`--log.format json`):
/// `{"ts":"…","level":"info","msg":"…","key":"value"}`.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let sink: @Sendable (String) -> Void

    /// - Parameter sink: receives each finished line (stderr by default; tests capture it).
    public init(level: Logger.Level, sink: @escaping @Sendable (String) -> Void = LogLine.write) {
        logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "{\"ts\":\"\(LogLine.timestamp())\",\"level\":\"\(LogLine.levelName(event.level))\",\"msg\":\(JSON.quoted(event.message.description))"
        for (key, value) in LogLine.merged(metadata, metadataProvider, event.metadata)
        where key != "ts" && key != "level" && key != "msg" {
            line += ",\(JSON.quoted(key)):\(Self.encode(value))"
        }
        sink(line + "}\n")
    }

    static func encode(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let s): JSON.quoted(s)
        case .stringConvertible(let c): JSON.quoted(c.description)
        case .array(let values): "[" + values.map(encode).joined(separator: ",") + "]"
        case .dictionary(let d):
            "{" + d.sorted { $0.key < $1.key }.map { "\(JSON.quoted($0.key)):\(encode($0.value))" }.joined(separator: ",") + "}"
        }
    }
}
