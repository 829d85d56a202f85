// MARK: - What can be wrong with a file

/// A problem found in one metric file. The file (or the part of it past the problem) is left
/// out of the merge; everything else is served exactly.
public struct FileProblem: Hashable, Sendable, CustomStringConvertible {

    /// Stable, low-cardinality reasons: the `reason` label of
    /// `multiproc_exporter_file_errors_total`.
    public enum Reason: String, Sendable, Hashable, CaseIterable, Comparable {
        /// 0-byte file (typically a worker killed while starting).
        case emptyFile = "empty_file"
        /// Shorter than the 8-byte header.
        case shortHeader = "short_header"
        /// `used` below 8: the header was never written.
        case usedBelowHeader = "used_below_header"
        /// `used` points past the end of the file; entries that fit are kept.
        case usedBeyondFile = "used_beyond_file"
        /// An entry's key length is negative, zero or runs past `used`; earlier entries are kept.
        case keyLengthOutOfBounds = "key_length_out_of_bounds"
        /// An entry's value runs past `used`; earlier entries are kept.
        case truncatedEntry = "truncated_entry"
        /// A key that is not UTF-8 (that entry is skipped).
        case invalidUTF8Key = "invalid_utf8_key"
        /// A key that is not JSON (that entry is skipped).
        case invalidJSONKey = "invalid_json_key"
        /// A JSON key that is not of the shape its file's layout has (`[metric, sample, {labels},
        /// help]` of strings in today's files; that entry is skipped).
        case unexpectedKeyShape = "unexpected_key_shape"
        /// Entries whose layout (which prometheus_client release wrote them) cannot be told
        /// from the bytes: the file is left out (see ``FileLayout``).
        case undetectedLayout = "undetected_layout"
        /// A histogram bucket whose `le` is not a number (that entry is skipped).
        case invalidBucketBound = "invalid_bucket_bound"
        /// A metric file name that is a directory, FIFO, socket or device.
        case notRegularFile = "not_regular_file"
        /// A metric file name that is a symbolic link: not followed.
        case symlink = "symlink"
        /// The file could not be opened or mapped (permissions, limits).
        case unreadable = "unreadable"
        /// A non-`live` file disappeared between listing and reading.
        case vanished = "vanished"
        /// The file shrank while it was being read; it is read again from scratch next time.
        case truncatedWhileReading = "truncated_while_reading"
        /// The metric directory itself is missing or not a directory.
        case directoryUnreadable = "directory_unreadable"

        public static func < (a: Reason, b: Reason) -> Bool { a.rawValue < b.rawValue }
    }

    /// File name inside the metric directory (empty for directory-level problems).
    public let file: String
    public let reason: Reason
    /// Human-readable specifics (offsets, errno text).
    public let detail: String

    public init(file: String, reason: Reason, detail: String) {
        self.file = file
        self.reason = reason
        self.detail = detail
    }

    public var description: String {
        file.isEmpty ? "\(reason.rawValue): \(detail)" : "\(file): \(reason.rawValue): \(detail)"
    }
}
