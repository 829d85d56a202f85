// MARK: - What the cache knows of one file's layout

/// One file's ``FileLayout`` as far as the cache knows it. Decided once per content of the
/// file: a file replaced, rewritten or cut short starts over as ``pending`` (see
/// ``TrackedFile``), and so does a file found undetectable, so that a file caught mid-write
/// is judged again on the next scrape.
enum DetectedLayout: Equatable, Sendable {
    /// No entry to decide from yet (a new file, `used` = 8): not a problem; decided on the
    /// first read that finds an entry.
    case pending
    case known(FileLayout)
    /// This content fits no layout (the reason says why): left out, reported as
    /// ``FileProblem/Reason/undetectedLayout``.
    case undetectable(String)

    var layout: FileLayout? {
        if case .known(let layout) = self { return layout }
        return nil
    }

    /// Decides the layout if it is still pending. `bytes` is the mapping (inside the SIGBUS
    /// guard) and `used` its header.
    mutating func settle(_ bytes: UnsafeRawBufferPointer, used: Int) {
        guard case .pending = self else { return }
        switch LayoutDetection.detect(bytes, used: used) {
        case .detected(let layout): self = .known(layout)
        case .noEntries: break
        case .undetectable(let why): self = .undetectable(why)
        }
    }
}
