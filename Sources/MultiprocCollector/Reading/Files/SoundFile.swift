// MARK: - A whole file, read only if entirely sound

/// The entries of a metric file read whole, in any ``FileLayout``, keys rewritten in today's
/// shape (`[metric, sample, {labels}, help]`, help `Multiprocess metric` where the layout had
/// none) as the collector reads them. Unlike the cache, which keeps what it can of a damaged
/// file, this throws unless every byte up to `used` is sound: for whoever rewrites files
/// (compaction folds a file whole or not at all).
enum SoundFile {
    /// Why a file is not entirely sound.
    struct Unsound: Error {
        let reason: String
    }

    /// The entries of a metric file's bytes (up to `used`).
    static func entries(of bytes: [UInt8]) throws(Unsound) -> [FileImage.Entry] {
        try bytes.withUnsafeBytes { raw in Result { () throws(Unsound) in try entries(of: raw) } }.get()
    }

    private static func entries(of raw: UnsafeRawBufferPointer) throws(Unsound) -> [FileImage.Entry] {
        guard raw.count >= EntryParser.headerSize else { throw Unsound(reason: "shorter than its header") }
        let used = EntryParser.readUsed(raw)
        if let (_, why) = EntryParser.headerProblem(used: used, fileSize: raw.count) { throw Unsound(reason: why) }
        let layout: FileLayout
        switch LayoutDetection.detect(raw, used: used) {
        case .detected(let detected): layout = detected
        case .noEntries: return []
        case .undetectable(let why): throw Unsound(reason: why)
        }
        let parsed = EntryParser.parse(raw, from: EntryParser.headerSize, used: used, valueWidth: layout.valueWidth)
        if let (_, why) = parsed.problem { throw Unsound(reason: why) }
        var out: [FileImage.Entry] = []
        out.reserveCapacity(parsed.entries.count)
        for entry in parsed.entries {
            let keyBytes = UnsafeRawBufferPointer(rebasing: raw[Int(entry.keyStart)..<Int(entry.keyStart + entry.keyLength)])
            let decoded: (SampleKey, KeyShape)
            do throws(KeyDecodingError) { decoded = try SampleKey.decodeAnyShape(keyBytes) } catch {
                throw Unsound(reason: "entry at offset \(entry.keyStart - 4): \(error.detail)")
            }
            guard decoded.1 == layout.keyShape else {
                throw Unsound(reason: "a key of shape \(decoded.1.spelled) in a \(layout.rawValue) file")
            }
            // Today's keys stay byte for byte; older shapes are written as today's writer would.
            let key = decoded.1 == .labelsAndHelp ? Array(keyBytes) : Array(decoded.0.pythonEncoded.utf8)
            let value = raw.loadUnaligned(fromByteOffset: Int(entry.valueOffset), as: Double.self)
            let timestamp = layout.hasTimestamps ? raw.loadUnaligned(fromByteOffset: Int(entry.valueOffset) + 8, as: Double.self) : 0
            out.append(FileImage.Entry(keyBytes: key, value: value, timestamp: timestamp))
        }
        return out
    }
}
