// MARK: - What the journal says, replayed

/// The state the journal's records describe: which pids are dead (with their foldable files
/// as they were when marked dead) and which compaction pass, if any, was interrupted.
///
/// Replaying is the only way state comes from the journal, and ``records`` is its exact
/// inverse (the journal rewritten with them replays to the same state), so what a restarted
/// exporter believes is what the journal says.
struct CompactionLedger: Equatable {
    struct DeadPid: Equatable {
        /// When the pid was marked dead (Unix seconds).
        var markedAt: Double
        /// Its foldable files as they were then.
        var files: [FileSnapshot]
    }

    /// A pass the journal began and did not end (no commit or abort).
    struct Pass: Equatable {
        var id: Int
        var planned: [FileSnapshot] = []
        var archives: [JournalRecord.ArchiveSwap] = []
        /// Other metric files when the pass was planned, name → inode (see ``Compactor/deletion(in:)``).
        var witnesses: [String: UInt64] = [:]
        /// Every planned file and archive is recorded, and the temporary files are written.
        var ready = false
        /// The archives were switched: what is left of the planned files is to be deleted.
        var committed = false
    }

    private(set) var dead: [String: DeadPid] = [:]
    /// Passes not yet cleaned up after (at most one in practice: passes do not overlap).
    private(set) var passes: [Int: Pass] = [:]
    /// The highest pass id seen.
    private(set) var lastPass = 0

    init() {}

    init(_ records: [JournalRecord]) {
        for record in records { apply(record) }
    }

    mutating func apply(_ record: JournalRecord) {
        switch record {
        case .dead(let pid, let at):
            dead[pid] = DeadPid(markedAt: at, files: [])
        case .file(let pid, let snapshot):
            dead[pid]?.files.removeAll { $0.name == snapshot.name }
            dead[pid]?.files.append(snapshot)
        case .forget(let pid):
            dead[pid] = nil
        case .begin(let id):
            passes[id] = Pass(id: id)
            lastPass = max(lastPass, id)
        case .planned(let id, let snapshot):
            passes[id]?.planned.append(snapshot)
        case .archive(let id, let swap):
            passes[id]?.archives.append(swap)
        case .witness(let id, let name, let inode):
            passes[id]?.witnesses[name] = inode
        case .ready(let id):
            passes[id]?.ready = true
        case .commit(let id):
            passes[id]?.committed = true
        case .abort(let id), .done(let id):
            passes[id] = nil
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
        for id in passes.keys.sorted() {
            let pass = passes[id]!
            out.append(.begin(pass: id))
            out += pass.planned.map { .planned(pass: id, $0) }
            out += pass.archives.map { .archive(pass: id, $0) }
            out += pass.witnesses.sorted { $0.key < $1.key }.map { .witness(pass: id, name: $0.key, inode: $0.value) }
            if pass.ready { out.append(.ready(pass: id)) }
            if pass.committed { out.append(.commit(pass: id)) }
        }
        if lastPass > 0, passes[lastPass] == nil {
            // Keep pass ids increasing across rewrites: an empty begun-and-aborted pass.
            out += [.begin(pass: lastPass), .abort(pass: lastPass)]
        }
        return out
    }
}
