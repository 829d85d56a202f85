// MARK: - What the journal says, replayed

/// The state the journal's records describe: which pids are dead (with their foldable files
/// as they were when marked dead) and which archive commits a crash may have left unsettled.
///
/// Replaying is the only way state comes from the journal, and ``records`` is its exact
/// inverse (the journal rewritten with them replays to the same state), so what a restarted
/// exporter believes is what the journal says.
struct CompactionLedger: Equatable {
    struct DeadPid: Equatable {
        /// When the pid was marked dead (Unix seconds).
        var markedAt: Double
        /// Its foldable files as they were then.
        var files: [FileFingerprint]
    }

    /// An archive a pass was about to switch, and the files it folds: if the archive holds
    /// the new content, those files are to be deleted; if not, the temporary is.
    struct PendingCommit: Equatable {
        var swap: JournalRecord.ArchiveSwap
        var files: [FileFingerprint]
    }

    private(set) var dead: [String: DeadPid] = [:]
    /// Commits of passes not settled (no `done`), by pass (at most one pass in practice).
    private(set) var unsettled: [Int: [PendingCommit]] = [:]
    /// The highest pass id seen.
    private(set) var lastPass = 0
    /// `fold` records waiting for the `commit` appended with them (pass → archive → files).
    /// A `fold` without its commit was never acted on: it is dropped.
    private var folds: [Int: [String: [FileFingerprint]]] = [:]

    init() {}

    init(_ records: [JournalRecord]) {
        for record in records { apply(record) }
    }

    mutating func apply(_ record: JournalRecord) {
        switch record {
        case .dead(let pid, let at):
            dead[pid] = DeadPid(markedAt: at, files: [])
        case .file(let pid, let fingerprint):
            dead[pid]?.files.removeAll { $0.name == fingerprint.name }
            dead[pid]?.files.append(fingerprint)
        case .forget(let pid, let at):
            if dead[pid]?.markedAt == at { dead[pid] = nil }
        case .fold(let id, let archive, let fingerprint):
            folds[id, default: [:]][archive, default: []].append(fingerprint)
            lastPass = max(lastPass, id)
        case .commit(let id, let swap):
            let files = folds[id]?.removeValue(forKey: swap.name) ?? []
            if files.count == swap.files { unsettled[id, default: []].append(PendingCommit(swap: swap, files: files)) }
            lastPass = max(lastPass, id)
        case .done(let id):
            unsettled[id] = nil
            folds[id] = nil
            lastPass = max(lastPass, id)
        }
    }

    /// The records that replay to this state, in a stable order.
    var records: [JournalRecord] {
        var out: [JournalRecord] = []
        for pid in dead.keys.sorted() {
            let entry = dead[pid]!
            out.append(.dead(pid: pid, markedAt: entry.markedAt))
            out += entry.files.map { .file(pid: pid, $0) }
        }
        for id in unsettled.keys.sorted() {
            for commit in unsettled[id]! {
                out += commit.files.map { .fold(pass: id, archive: commit.swap.name, $0) } + [.commit(pass: id, commit.swap)]
            }
        }
        // Keeps pass ids increasing across rewrites.
        if lastPass > 0, unsettled[lastPass] == nil { out.append(.done(pass: lastPass)) }
        return out
    }

    static func == (a: CompactionLedger, b: CompactionLedger) -> Bool {
        a.dead == b.dead && a.unsettled == b.unsettled && a.lastPass == b.lastPass
    }
}
