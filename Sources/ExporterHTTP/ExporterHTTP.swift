import MultiprocCollector

/// Placeholder until the libevent front lands.
public enum ExporterHTTPVersion {
    public static let placeholder = true
}
