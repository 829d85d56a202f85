// MARK: - What the cache knows of one file's layout

/// One file's ``FileLayout`` as the cache knows it: decided by ``LayoutDetection`` on the
/// file as it is whenever a read finds bytes to parse (see ``TrackedFile``), so the cache
/// always holds what a cold read would decide.
enum DetectedLayout: Equatable, Sendable {
    /// No entry to decide from yet (a new file, `used` = 8): not a problem; decided on the
    /// first read that finds an entry.
    case pending
    case known(FileLayout)
    /// This content fits no layout (the reason says why): left out, reported as
    /// ``FileProblem/Reason/undetectedLayout``, decided afresh on the next read.
    case undetectable(String)

    var layout: FileLayout? {
        if case .known(let layout) = self { return layout }
        return nil
    }

    /// The layout of `bytes` (a mapping, read inside the SIGBUS guard) with header `used`.
    init(detecting bytes: UnsafeRawBufferPointer, used: Int) {
        switch LayoutDetection.detect(bytes, used: used) {
        case .detected(let layout): self = .known(layout)
        case .noEntries: self = .pending
        case .undetectable(let why): self = .undetectable(why)
        }
    }
}
