// MARK: - Which layout a file was written in, decided from its bytes

/// Decides a file's ``FileLayout`` from the bytes between the header and `used`.
///
/// Nothing in a file names its writer, but the entries do: a writer appends whole entries and
/// then bumps `used`, so walking the entries with the right value width lands exactly on
/// `used`, while the wrong width reads a timestamp, or the middle of the next key, as a key
/// length and stops. Each walk looks at the first ``entriesExamined`` entries at most: a walk
/// that gets through them without a fault "fits" as well as one that lands on `used`, so the
/// cost per file is constant (the wrong width stops at the second entry of a real file). A 16-byte walk over 8-byte entries lands 8 bytes into the next entry,
/// where key text (`"m`…, at least 0x20 in every byte) makes a length far past any `used`; an
/// 8-byte walk over 16-byte entries reads a timestamp, whose low half is 0 for every entry
/// but `mostrecent` gauges'. The first key then says which shape an 8-byte file has (16-byte
/// files only ever had one).
///
/// The rules, in order:
/// 1. no entry fits either width: undecided while `used` leaves room for none (a new file),
///    else ``Outcome/undetectable(_:)``;
/// 2. exactly one width's walk fits: that width;
/// 3. otherwise (both fit, or neither: a damaged file): each walk scores the entries
///    whose keys decode in a shape that width allows; the higher score wins; a tie between
///    two damaged walks goes to the one that reads further (with the same entries, that is
///    today's layout, so damaged files of today are read exactly as before); any other tie
///    is ``Outcome/undetectable(_:)``.
/// A 16-byte width means ``FileLayout/k4v16``; an 8-byte one takes the shape of the first
/// key that decodes.
///
/// Cost for today's files: two walks that read one int32 per entry examined (the wrong one
/// stops at the second entry); keys are decoded only for 8-byte files (one key) and under
/// rule 3. The walks read lengths, and the wrong width reads value or timestamp bytes as
/// lengths: a decision could in principle depend on values a writer changes in place, so it
/// is taken again whenever a file has new bytes, never on a mere value change.
enum LayoutDetection {
    /// Entries each walk examines at most: far more than the one or two the wrong width of a
    /// real file survives, few enough to cost nothing on a directory of large files.
    static let entriesExamined = 16

    enum Outcome: Equatable, Sendable {
        case detected(FileLayout)
        /// No entry yet: decide again when there is one. Not a problem.
        case noEntries
        /// Entries that no layout explains; the file is left out (``FileProblem/Reason/undetectedLayout``).
        case undetectable(String)
    }

    /// Looks at `bytes[8..<min(used, bytes.count)]`; call only when the header is sound
    /// (`used` >= 8). Never reads outside `bytes`.
    static func detect(_ bytes: UnsafeRawBufferPointer, used: Int) -> Outcome {
        let wide = Walk(bytes, used: used, valueWidth: 16)
        let narrow = Walk(bytes, used: used, valueWidth: 8)
        if wide.count == 0 && narrow.count == 0 {
            guard let stop = wide.problem ?? narrow.problem else { return .noEntries }
            return .undetectable("the first entry fits neither 16- nor 8-byte values (\(stop))")
        }
        let valueWidth: Int
        if wide.fits != narrow.fits {
            valueWidth = wide.fits ? 16 : 8
        } else {
            let (wideScore, narrowScore) = (wide.decodableKeys(bytes), narrow.decodableKeys(bytes))
            if wideScore != narrowScore {
                valueWidth = wideScore > narrowScore ? 16 : 8
            } else if !wide.fits, wide.end != narrow.end {
                valueWidth = wide.end > narrow.end ? 16 : 8
            } else {
                return .undetectable("its \(wide.count) entries fit 16-byte values and its \(narrow.count) entries "
                                     + "fit 8-byte values equally well")
            }
        }
        if valueWidth == 16 { return .detected(.k4v16) }
        guard let shape = narrow.firstShape(bytes), let layout = FileLayout(shape: shape, valueWidth: 8) else {
            return .undetectable("no key among its \(narrow.count) entries of 8-byte values has a known shape")
        }
        return .detected(layout)
    }

    /// One walk over the entries with a given value width.
    private struct Walk {
        let used: Int
        let valueWidth: Int
        /// Entries that fit.
        private(set) var count = 0
        /// Offset just past the last entry that fits.
        private(set) var end = EntryParser.headerSize
        /// Why the walk stopped before `used`, if it did on a bad entry.
        private(set) var problem: String?

        init(_ bytes: UnsafeRawBufferPointer, used: Int, valueWidth: Int) {
            self.used = used
            self.valueWidth = valueWidth
            var count = 0
            let outcome = EntryParser.parse(bytes, from: EntryParser.headerSize, used: used, valueWidth: valueWidth,
                                            maxEntries: LayoutDetection.entriesExamined) { _ in count += 1 }
            self.count = count
            end = outcome.end
            problem = outcome.problem?.1
        }

        /// The walk explains every byte it looked at: it ended exactly on `used`, or went
        /// through all the entries it examines without a fault.
        var fits: Bool { end == used || (count == LayoutDetection.entriesExamined && problem == nil) }

        /// Entries whose key decodes in a shape this width was written with.
        func decodableKeys(_ bytes: UnsafeRawBufferPointer) -> Int {
            var decodable = 0
            forEachKey(bytes) { shape in
                if let shape, FileLayout(shape: shape, valueWidth: valueWidth) != nil { decodable += 1 }
                return true
            }
            return decodable
        }

        /// The shape of the first key that decodes.
        func firstShape(_ bytes: UnsafeRawBufferPointer) -> KeyShape? {
            var found: KeyShape?
            forEachKey(bytes) { shape in
                found = shape
                return shape == nil
            }
            return found
        }

        /// Hands each entry's key shape (nil: it does not decode) to `body` while it returns true.
        private func forEachKey(_ bytes: UnsafeRawBufferPointer, _ body: (KeyShape?) -> Bool) {
            var going = true
            _ = EntryParser.parse(bytes, from: EntryParser.headerSize, used: used, valueWidth: valueWidth,
                                  maxEntries: LayoutDetection.entriesExamined) { entry in
                guard going else { return }
                let start = Int(entry.keyStart)
                let key = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + Int(entry.keyLength))])
                going = body(try? SampleKey.decodeAnyShape(key).1)
            }
        }
    }
}
