import Logging
import MultiprocSupport

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
        return JSONText.quoted(s, asciiOnly: false)  // logfmt quoting is JSON's: \" \\ \n \t \uXXXX
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
        var line = "{\"ts\":\"\(LogLine.timestamp())\",\"level\":\"\(LogLine.levelName(event.level))\",\"msg\":\(JSONText.quoted(event.message.description, asciiOnly: false))"
        for (key, value) in fields where key != "ts" && key != "level" && key != "msg" {
            line += ",\(JSONText.quoted(key, asciiOnly: false)):\(encode(value))"
        }
        return line + "}\n"
    }

    static func encode(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let s): JSONText.quoted(s, asciiOnly: false)
        case .stringConvertible(let c): JSONText.quoted(c.description, asciiOnly: false)
        case .array(let values): "[" + values.map(encode).joined(separator: ",") + "]"
        case .dictionary(let d):
            "{" + d.sorted { $0.key < $1.key }.map { "\(JSONText.quoted($0.key, asciiOnly: false)):\(encode($0.value))" }.joined(separator: ",") + "}"
        }
    }
}
