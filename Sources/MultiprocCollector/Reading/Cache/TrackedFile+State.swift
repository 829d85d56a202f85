// MARK: - The states of a tracked file

extension TrackedFile {

    /// Where reading a file stands. Every change of state is one of ``TrackedFile``'s
    /// transitions:
    /// - a refresh maps an unmapped file (`unmapped` → `reading`), or maps a file that grew
    ///   past its mapping again (`reading` → `reading`, the same file's new mapping);
    /// - ``TrackedFile/startOver(_:)`` forgets the content read so far; when its reason says
    ///   the mapping cannot be trusted any more, the file becomes `unmapped`;
    /// - freezing and thawing (`reading` ⇄ `frozen`), which only ``DeadPids`` may do.
    enum ReadState {
        /// Nothing is known of the file's content (``TrackedFile/content`` is empty): a new
        /// file, one that could not be mapped (empty, vanished, not a regular file), or one
        /// started over without its mapping. The next refresh maps it and reads it from its
        /// first entry.
        case unmapped
        /// Mapped and followed: every refresh reads `used`, parses the entries past
        /// ``ContentRead/parsedEnd``, and loads every value again.
        case reading(Mapping)
        /// Its pid is dead (see ``DeadPids``): the content read last is final, no refresh
        /// reads it, and only the header is watched for a new worker reusing the pid.
        case frozen(Mapping)

        var mapping: Mapping? {
            switch self {
            case .unmapped: return nil
            case .reading(let mapping), .frozen(let mapping): return mapping
            }
        }

        /// The same state with `mapping` in place of its own (its watch brought up to date).
        func replacing(_ mapping: Mapping) -> ReadState {
            switch self {
            case .unmapped: return .unmapped
            case .reading: return .reading(mapping)
            case .frozen: return .frozen(mapping)
            }
        }
    }

    /// A mapping of the file, and the modification time last seen for it: without inotify,
    /// a file whose time moved may have been changed by a system call
    /// (``TrackedFile/mayHaveBeenRewritten(directory:)``).
    struct Mapping {
        let file: MappedFile
        var lastModified: Int

        init(_ file: MappedFile) {
            self.file = file
            lastModified = file.modified
        }
    }

    /// Why a file's content read so far is thrown away (``TrackedFile/startOver(_:)``): the
    /// next read parses it from its first entry, as a cold read would.
    enum StartOver {
        /// The bytes under the mapping are not the content that was read
        /// (``ContentRead/isContinued(byUsed:mappingLength:)``).
        case newContent
        /// The layout decided on the file as it is now differs from the one its entries were
        /// parsed with (decided on fewer entries).
        case layoutChanged
        /// The file shrank under the mapping while it was read (`SIGBUS`): the faulting page
        /// now reads zeros for good.
        case shrank
        /// Mapped again because it grew, the file was another, empty or gone.
        case replaced
        /// Changed by a system call (``FileChangeWatch``): whatever it holds now is new.
        case rewritten

        /// Whether the mapping still shows the file: only the content read through it is wrong.
        var keepsMapping: Bool {
            switch self {
            case .newContent, .layoutChanged: return true
            case .shrank, .replaced, .rewritten: return false
            }
        }
    }

    /// Whose ``KeyTable`` numbers the key ids of the entries.
    enum KeyNumbering {
        /// The collector's, every one.
        case collector
        /// A lane's own table numbers the entries from index `from` on, during a
        /// ``ParallelRefresh``, until ``TrackedFile/adoptKeys(_:)`` maps them into the collector's.
        case lane(from: Int)
    }
}

// MARK: - What was read of one content

/// What the cache has read of one content of a file: since the file was first read, or since
/// it last started over (one epoch).
struct ContentRead {
    /// `used` as last read (0 before any read).
    var used = 0
    /// Offset just past the last entry parsed: the next parse starts here.
    var parsedEnd = EntryParser.headerSize
    /// Decided on the file as it was whenever a read found bytes to parse (so always what a
    /// cold read decides); fixed for the content's entries, which were all parsed with it.
    var layout = DetectedLayout.pending
    var entries = ParsedEntries()
    /// Problems with entries: keys skipped, the corrupt entry parsing stopped at (nothing past
    /// it is parsed), a content no layout explains. They last as long as this content, and a
    /// content with any is read from scratch by the next refresh, as a cold read would: it
    /// may have been caught mid-rewrite (half a key, zeros where an entry goes).
    var entryProblems: [FileProblem] = []
    /// The header's problem as of the last read.
    var headerProblem: FileProblem?

    /// Nothing has been read yet.
    var isUntouched: Bool {
        used == 0 && parsedEnd == EntryParser.headerSize && entryProblems.isEmpty
    }

    /// Whether a read that finds `used` in a mapping of `mappingLength` bytes continues this
    /// content. `used` never goes down in a live file, and a file never gets shorter than what
    /// was parsed from it: either means new content under the same inode (or a file cut short
    /// while it grew), whose old value offsets may lie past the mapping. A damaged content
    /// (``entryProblems``) is read afresh every time.
    func isContinued(byUsed used: Int, mappingLength: Int) -> Bool {
        used >= self.used && parsedEnd <= mappingLength && entryProblems.isEmpty
    }
}
