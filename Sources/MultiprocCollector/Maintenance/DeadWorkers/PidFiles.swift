// MARK: - The metric files of each pid

/// The metric files of one pid (the number in their names).
public struct PidFiles: Sendable, Equatable {
    /// The pid as written in the file names.
    public var pid: Int
    /// Its files, in directory order.
    public var files: [PidFile]

    /// A pid and its files.
    public init(pid: Int, files: [PidFile]) {
        self.pid = pid
        self.files = files
    }

    /// The earliest time by which one of the files existed: whatever held the pid then
    /// created that file.
    public var bornBy: Double { files.map(\.bornBy).min() ?? .infinity }
    /// Whether mark-dead would remove something.
    public var hasLiveGauges: Bool { files.contains(where: \.isLiveGauge) }
    /// Whether `maps` holds one of the files.
    public func mapped(in maps: WritableMappings) -> Bool { files.contains { maps.maps($0.identity, name: $0.name) } }
}
