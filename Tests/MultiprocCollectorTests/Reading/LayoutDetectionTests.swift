import Testing
@testable import MultiprocCollector

/// ``LayoutDetection`` on files of every layout, including the cases built to fool it.
@Suite struct LayoutDetectionTests {
    private typealias Sample = (sample: String, labels: [(name: String, value: String)], value: Double, timestamp: Double)

    private func samples(_ count: Int, timestamp: (Int) -> Double = { _ in 0 }) -> [Sample] {
        (0..<count).map { i in ("m_total", [("path", "/\(i)"), ("method", i % 2 == 0 ? "GET" : "POST")], Double(i) + 0.5, timestamp(i)) }
    }

    private func detect(_ file: [UInt8]) -> LayoutDetection.Outcome {
        file.withUnsafeBytes { LayoutDetection.detect($0, used: EntryParser.readUsed($0)) }
    }

    private func file(_ layout: FileLayout, _ samples: [Sample], size: Int? = nil) -> [UInt8] {
        FileImage.build(metric: "m", samples: samples, help: "Help.", layout: layout, size: size)
    }

    @Test(arguments: FileLayout.allCases)
    func everyLayoutIsDetected(_ layout: FileLayout) {
        for count in [1, 2, 3, 50] {
            #expect(detect(file(layout, samples(count), size: 1 << 16)) == .detected(layout), "\(count) entries")
            // Trimmed to `used`, as the golden fixtures are.
            #expect(detect(file(layout, samples(count))) == .detected(layout), "\(count) entries, trimmed")
        }
    }

    @Test(arguments: FileLayout.allCases)
    func oneEntryFilesAreNeverAmbiguous(_ layout: FileLayout) {
        // A 16-byte entry read with 8-byte values leaves 8 bytes (the timestamp) that cannot
        // hold another entry; an 8-byte entry has no room for a timestamp.
        for timestamp in [0, 1.7e9, Double(bitPattern: 0x4000_0000_0000_0001), -Double.infinity] {
            #expect(detect(file(layout, samples(1) { _ in timestamp })) == .detected(layout))
        }
    }

    @Test func fileWithoutEntriesStaysUndecided() {
        #expect(detect(FileImage.build([], valueWidth: 16, size: 1 << 16)) == .noEntries)
        #expect(detect(FileImage.build([], valueWidth: 8)) == .noEntries)
    }

    @Test func firstEntryThatFitsNoLayoutIsUndetectable() {
        var image = file(.k4v16, samples(3))
        withUnsafeBytes(of: Int32(-3).littleEndian) { for i in 0..<4 { image[8 + i] = $0[i] } }
        guard case .undetectable(let why) = detect(image) else { Issue.record("detected \(detect(image))"); return }
        #expect(why.contains("first entry"))
    }

    @Test func mostrecentTimestampsThatLookLikeKeyLengths() {
        // Timestamps whose low 32 bits are small positive int32s: the 8-byte walk takes the
        // timestamp for the next key's length and must still lose.
        for low in [1, 4, 8, 24, 40, 64] as [UInt64] {
            let samples = samples(5) { _ in Double(bitPattern: 0x41D9_0000_0000_0000 | low) }
            #expect(detect(file(.k4v16, samples)) == .detected(.k4v16), "low bits \(low)")
        }
    }

    /// Two equal 16-byte entries whose first timestamp holds, in its low half, the length
    /// that makes the 8-byte walk swallow the rest of the file as one entry: both walks end
    /// exactly on `used`. `padded` is the key plus its padding; an 8-byte entry from the
    /// timestamp to `used` needs a key length of 8 + padded.
    private func forgedTwin(key: String) -> [UInt8] {
        let padded = key.utf8.count + 8 - (key.utf8.count + 4) % 8
        let forged = Double(bitPattern: UInt64(8 + padded))
        let image = FileImage.build([FileImage.Entry(key: key, value: 1, timestamp: forged),
                                     FileImage.Entry(key: key, value: 2, timestamp: 0)], valueWidth: 16)
        image.withUnsafeBytes { raw in
            precondition(EntryParser.parse(raw, from: 8, used: raw.count, valueWidth: 8).end == raw.count, "the forgery does not work")
            precondition(EntryParser.parse(raw, from: 8, used: raw.count, valueWidth: 16).end == raw.count)
        }
        return image
    }

    @Test func bothWalksEndOnUsedAndTheKeysDecide() {
        // The 16-byte walk's two keys decode; the 8-byte walk's second "key" is the first
        // entry's timestamp and the second entry's head.
        #expect(detect(forgedTwin(key: #"["m", "m", {}, "h"]"#)) == .detected(.k4v16))
        #expect(detect(forgedTwin(key: #"["m", "m", {"a": "b"}, "Some help."]"#)) == .detected(.k4v16))
    }

    @Test func entriesThatFitBothWidthsEquallyAreUndetectable() {
        // The same forgery with keys that are not JSON: nothing tells the widths apart.
        guard case .undetectable(let why) = detect(forgedTwin(key: "abc")) else {
            Issue.record("detected \(detect(forgedTwin(key: "abc")))")
            return
        }
        #expect(why.contains("equally"))
    }

    @Test func anEightByteFileWhoseValuesSpellAPlausibleLength() {
        // 8-byte entries whose values' low halves are small lengths: the 16-byte walk reads
        // the next entry's length and key text instead and stops.
        let values = samples(6).map { s -> Sample in (s.sample, s.labels, Double(bitPattern: 0x4000_0000_0000_0010), 0) }
        for layout in [FileLayout.k4v8, .k3v8, .k4lv8] {
            #expect(detect(file(layout, values)) == .detected(layout))
        }
    }

    @Test func damagedFilesOfTodayAreReadAsToday() {
        // Entry 2's length is broken: the 16-byte walk keeps 2 entries, the 8-byte walk stops
        // after 1 (the first timestamp is 0): 16 wins on keys, as before detection existed.
        var image = file(.k4v16, samples(4))
        let third = image.withUnsafeBytes { EntryParser.parse($0, from: 8, used: image.count, valueWidth: 16).entries[2] }
        withUnsafeBytes(of: Int32(99999).littleEndian) { for i in 0..<4 { image[Int(third.keyStart) - 4 + i] = $0[i] } }
        #expect(detect(image) == .detected(.k4v16))
        // Entry 1 broken: both walks have only entry 0; the 16-byte walk reads further.
        var second = file(.k4v16, samples(3))
        let entry1 = second.withUnsafeBytes { EntryParser.parse($0, from: 8, used: second.count, valueWidth: 16).entries[1] }
        withUnsafeBytes(of: Int32(-16).littleEndian) { for i in 0..<4 { second[Int(entry1.keyStart) - 4 + i] = $0[i] } }
        #expect(detect(second) == .detected(.k4v16))
    }

    @Test func damagedOldFilesKeepTheirLayout() {
        for layout in [FileLayout.k4v8, .k3v8, .k4lv8] {
            var image = file(layout, samples(4))
            let entries = image.withUnsafeBytes { EntryParser.parse($0, from: 8, used: image.count, valueWidth: 8).entries }
            withUnsafeBytes(of: Int32(99999).littleEndian) { for i in 0..<4 { image[Int(entries[3].keyStart) - 4 + i] = $0[i] } }
            #expect(detect(image) == .detected(layout))
        }
    }

    @Test func usedPastTheFileDecidesOnWhatFits() {
        var image = file(.k3v8, samples(5))
        image.removeLast(5)
        withUnsafeBytes(of: Int32(image.count + 100).littleEndian) { for i in 0..<4 { image[i] = $0[i] } }
        #expect(detect(image) == .detected(.k3v8))
    }

    /// Files of exactly `size` arbitrary bytes (`used` within reach where there is room for
    /// it), drawn from a seeded generator so that a failure reproduces: detection never traps,
    /// and files shorter than the header go through the whole read path (which checks the
    /// header before any detection) as the collector reads them.
    @Test(arguments: [0, 1, 7, 8, 9, 12, 15, 16, 17, 100])
    func arbitraryShortFilesNeverTrap(_ size: Int) {
        var generator = CacheRandomizedTests.SplitMix64(state: UInt64(size))
        for _ in 0..<200 {
            var bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if size >= 4 {
                withUnsafeBytes(of: Int32.random(in: 8...Int32(size + 24), using: &generator).littleEndian) { for i in 0..<4 { bytes[i] = $0[i] } }
            }
            #expect(bytes.count == size)
            if size >= EntryParser.headerSize { _ = detect(bytes) }
            ([UInt8(size % 7), 0] + bytes).withUnsafeBytes { CollectorFuzzing.fileReader($0) }
        }
    }
}
