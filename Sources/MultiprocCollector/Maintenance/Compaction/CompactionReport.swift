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
    /// or the journal deleted): what they held of it was deleted too, one line each.
    public var passesWiped: [String] = []
    /// How an interrupted pass found at the start was settled, if there was one.
    public var recovered: Recovery?
    /// What went wrong (files that could not be read or folded, I/O errors); the pass left
    /// everything they concern as it was.
    public var errors: [String] = []
    /// Wall time of the pass, in seconds.
    public var duration: Double = 0

    /// How an interrupted pass was settled.
    public enum Recovery: String, Sendable, Equatable {
        /// Its archives were (partly) switched: it was finished.
        case rolledForward = "rolled_forward"
        /// Nothing visible had changed: it was undone (or, the directory wiped since,
        /// discarded).
        case rolledBack = "rolled_back"
    }

    public init() {}
}

/// Where a pass can be told to stop, as if the process died there (tests of crash safety).
/// Each case names the step that would come next.
enum CompactionStep: String, CaseIterable, Sendable {
    case writeTemporaries, journalReady, renameFiles, verifyFiles, nameTemporaries, switchArchive, journalCommit, unlinkFiles, forgetPids
}
