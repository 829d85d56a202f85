import Glibc

// MARK: - Files an unsettled commit has already put into an archive

/// The files that a compaction pass folded into an archive it renamed, and that a crash (a
/// `kill -9` of `compact` or of `serve`) kept it from deleting: until a pass settles it
/// (docs/design.md §9, step 0), every refresh of every exporter process leaves them out, since
/// the archive counts them already. Without it, a `serve` beside a `compact` killed in the
/// microseconds between an archive's rename and the deletes would serve those workers twice
/// until the next pass.
///
/// Cost: one `fstatat` of the journal per refresh; the journal is read again only when it
/// changed, and an archive only when the journal has a commit without its `done`.
struct PendingFolds {
    /// The journal as last read: inode, size, modification time; nil when there was none.
    private var journal: [Int]?
    /// (name, inode) of the files to leave out.
    private var folded: Set<Folded> = []

    private struct Folded: Hashable {
        var name: String
        var inode: UInt64
    }

    /// Whether the file listed as `name` with inode `inode` is counted in an archive already.
    func excludes(_ name: String, inode: UInt64) -> Bool {
        !folded.isEmpty && folded.contains(Folded(name: name, inode: inode))
    }

    /// Reads the journal again if it changed. Call under the directory's shared `flock`, so
    /// that no pass is between a rename and its `done` (a pass holds the lock exclusively).
    mutating func update(directory: Int32) {
        var info = stat()
        let now = fstatat(directory, CompactionJournal.fileName, &info, AT_SYMLINK_NOFOLLOW) == 0
            ? [Int(info.st_ino), Int(info.st_size), info.st_mtim.tv_sec, info.st_mtim.tv_nsec] : nil
        guard now != journal else { return }
        journal = now
        folded = []
        guard now != nil, let records = try? CompactionJournal(directory: directory).load().records else { return }
        let ledger = CompactionLedger(records)
        guard !ledger.unsettled.isEmpty else { return }
        let compactor = Compactor(directory: directory)
        for commit in ledger.unsettled.values.joined() where compactor.holdsNewContent(commit.swap) {
            for file in commit.files { folded.insert(Folded(name: file.name, inode: file.inode)) }
        }
    }
}
