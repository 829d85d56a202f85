import Logging

/// Writes `ts=… level=info msg="…" key=value` lines to stderr (`--log.format logfmt`), the
/// format of the Prometheus ecosystem's go-kit/slog loggers.
public struct LogfmtLogHandler: LogHandler {
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
        var line = "ts=\(LogLine.timestamp()) level=\(LogLine.levelName(event.level)) msg=\(Self.value(event.message.description))"
        for (key, value) in LogLine.merged(metadata, metadataProvider, event.metadata) {
            line += " \(Self.key(key))=\(Self.value(LogLine.text(value)))"
        }
        sink(line + "\n")
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
