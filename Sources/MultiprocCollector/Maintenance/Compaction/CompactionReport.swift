// MARK: - What a compaction pass did

/// The outcome of one ``DirectoryCollector/compact(delay:)`` pass.
public struct CompactionReport: Sendable, Equatable {
    /// Dead pids whose files were folded into the archives (they are gone now).
    public var pidsFolded: [String] = []
    /// Files folded, and their size in bytes (what the directory no longer holds).
    public var filesFolded = 0
    public var bytesFolded = 0
    /// Dead pids not folded yet: marked dead less than the delay ago.
    public var pidsWaiting = 0
    /// Dead pids due but left for the next pass: the pass took its maximum
    /// (``DirectoryCollector/Options/maxPidsPerPass``), the oldest deaths first.
    public var pidsDeferred = 0
    /// About the most memory the pass held at once for its new archives: one archive's
    /// content, its file image and the largest file folded into it (the pass reads the files
    /// it folds one at a time).
    public var heldBytes = 0
    /// Pids marked dead whose files changed (a new worker reuses the pid): no longer dead.
    public var pidsRevived: [String] = []
    /// Dead pids some of whose files were deleted during the pass, the directory not wiped (an
    /// operator, an app's hook): no longer dead, their other files read as they are.
    public var pidsLostFiles: [String] = []
    /// Pids whose files some running process maps: left alone this pass.
    public var pidsInUse: [String] = []
    /// Counter series whose archive entry was raised a few ulps so they did not go down
    /// (see the README's "Compaction": float sums in another order).
    public var seriesRaised = 0
    /// Passes that found the directory wiped by the app under them (files they fold, an archive
    /// or the journal deleted): what they prepared was deleted and nothing put back, one line each.
    public var passesWiped: [String] = []
    /// How an interrupted pass found at the start was settled, if there was one.
    public var recovered: Recovery?
    /// What went wrong (files that could not be read or folded, I/O errors); the pass left
    /// everything they concern as it was.
    public var errors: [String] = []
    /// Whether the directory had a journal when the pass began (no journal: no death was ever
    /// recorded, so nothing can be due; see ``DirectoryCollector/Options/recordsDeadPids``).
    public var journalExists = false
    /// Pids the journal listed as dead when the pass began.
    public var deadPidsRecorded = 0
    /// Wall time of the pass, in seconds.
    public var duration: Double = 0

    /// How an interrupted pass was settled.
    public enum Recovery: String, Sendable, Equatable {
        /// An archive held its new content: the files folded into it were deleted.
        case rolledForward = "rolled_forward"
        /// No archive had been switched: the pass's temporaries were deleted.
        case rolledBack = "rolled_back"
    }

    public init() {}
}

/// Where a pass can be told to stop, as if the process died there (tests of crash safety).
/// Each case names the step that would come next.
/// Each case names the step that would come next (docs/design.md §9); the four of step 4 come
/// once per archive.
enum CompactionStep: String, CaseIterable, Sendable {
    case build, check, nameTemporary, journalCommit, replaceArchive, deleteFiles, journalDone
}
