// MARK: - What can be wrong in a textfile directory

/// A problem with one textfile, or one family of it, or the textfile directory. What it names
/// is left out of the scrape; everything else is served.
public struct TextfileProblem: Hashable, Sendable, CustomStringConvertible {

    /// Stable, low-cardinality reasons: the `reason` label of
    /// `multiproc_exporter_textfile_errors_total`.
    public enum Reason: String, Sendable, Hashable, CaseIterable, Comparable {
        /// Not the text format (the detail names the line); the file is left out.
        case parseError = "parse_error"
        /// Samples with timestamps, which node_exporter refuses too; the file is left out.
        case timestamp
        /// Larger than the size limit; the file is left out.
        case tooLarge = "too_large"
        /// A directory, FIFO, socket or device named `*.prom`.
        case notRegularFile = "not_regular_file"
        /// A symbolic link that leads round in a loop (`ELOOP`).
        case symlinkLoop = "symlink_loop"
        /// Listed, then gone before it could be opened.
        case vanished
        /// Could not be opened or read (permissions, a dangling symbolic link, I/O errors).
        case unreadable
        /// A family whose type or HELP contradicts the same family in an earlier file, or
        /// that takes a name another family has (see ``NameClaims``): that family of this
        /// file is left out.
        case conflictingFamily = "conflicting_family"
        /// A family repeating a sample (same name and labels) of its own file or an earlier
        /// file: that family of this file is left out.
        case duplicateSample = "duplicate_sample"
        /// A family the `.db` files also have: theirs is served, as prometheus_client would.
        case shadowedByDBFiles = "shadowed_by_db_files"
        /// A family taking a name the exporter serves itself (its own metrics).
        case reservedName = "reserved_name"
        /// The textfile directory could not be listed: no textfile is served.
        case directoryUnreadable = "directory_unreadable"

        public static func < (a: Reason, b: Reason) -> Bool { a.rawValue < b.rawValue }

        /// Whether the problem leaves a whole file out (rather than one family of it).
        public var isFileLevel: Bool {
            switch self {
            case .conflictingFamily, .duplicateSample, .shadowedByDBFiles, .reservedName: return false
            default: return true
            }
        }
    }

    /// The file's path (the directory's for ``Reason/directoryUnreadable``).
    public let file: String
    /// The family left out, for family-level reasons.
    public let family: String?
    public let reason: Reason
    /// Human-readable specifics (line numbers, the other file, errno text).
    public let detail: String

    public init(file: String, family: String? = nil, reason: Reason, detail: String) {
        self.file = file
        self.family = family
        self.reason = reason
        self.detail = detail
    }

    public var description: String {
        let what = family.map { "\(file): family \($0)" } ?? file
        return "\(what): \(reason.rawValue): \(detail)"
    }
}
