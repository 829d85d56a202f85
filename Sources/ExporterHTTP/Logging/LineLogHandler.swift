import Logging

/// The exporter's log handler: one line per event, in logfmt or JSON, written to stderr with
/// one `write(2)` (see ``LogFormat``).
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let format: LogFormat
    private let sink: @Sendable (String) -> Void

    /// - Parameter sink: receives each finished line (stderr by default; tests capture it).
    public init(format: LogFormat, level: Logger.Level, sink: @escaping @Sendable (String) -> Void = LogLine.write) {
        self.format = format
        logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let fields = LogLine.merged(metadata, metadataProvider, event.metadata)
        switch format {
        case .logfmt: sink(Logfmt.line(event, fields))
        case .json: sink(JSONLines.line(event, fields))
        }
    }
}

/// `ts=… level=info msg="…" key=value`, the format of the Prometheus ecosystem's go-kit/slog
/// loggers.
enum Logfmt {
    static func line(_ event: LogEvent, _ fields: [(String, Logger.MetadataValue)]) -> String {
        var line = "ts=\(LogLine.timestamp()) level=\(LogLine.levelName(event.level)) msg=\(value(event.message.description))"
        for (key, value) in fields {
            line += " \(Self.key(key))=\(Self.value(LogLine.text(value)))"
        }
        return line + "\n"
    }

    /// Quotes a value when it is empty or holds a space, `=`, `"`, or a control character.
    static func value(_ s: String) -> String {
        let needsQuotes = s.isEmpty || s.unicodeScalars.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0.value < 0x20 || $0.value == 0x7f }
        guard needsQuotes else { return s }
        return JSON.quoted(s)  // logfmt quoting is JSON's: \" \\ \n \t \uXXXX
    }

    /// Keys cannot be quoted in logfmt: replace what would break the line.
    static func key(_ s: String) -> String {
        let cleaned = String(s.unicodeScalars.map { ($0 == " " || $0 == "=" || $0 == "\"" || $0.value < 0x20) ? "_" : Character($0) })
        return cleaned.isEmpty ? "_" : cleaned
    }
}

/// One JSON object per line: `{"ts":"…","level":"info","msg":"…","key":"value"}`.
enum JSONLines {
    static func line(_ event: LogEvent, _ fields: [(String, Logger.MetadataValue)]) -> String {
        var line = "{\"ts\":\"\(LogLine.timestamp())\",\"level\":\"\(LogLine.levelName(event.level))\",\"msg\":\(JSON.quoted(event.message.description))"
        for (key, value) in fields where key != "ts" && key != "level" && key != "msg" {
            line += ",\(JSON.quoted(key)):\(encode(value))"
        }
        return line + "}\n"
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
