import Testing
@testable import MultiprocCollector

@Suite struct EntryParserTests {
    /// Builds a file image: header with `used` (default: the real end) and the given entries.
    private func image(_ keys: [String], used: Int? = nil, size: Int? = nil) -> [UInt8] {
        var body: [UInt8] = []
        for key in keys {
            let bytes = Array(key.utf8)
            withUnsafeBytes(of: Int32(bytes.count).littleEndian) { body += $0 }
            body += bytes + Array(repeating: UInt8(ascii: " "), count: 8 - (bytes.count + 4) % 8)
            withUnsafeBytes(of: (1.5, 0.0)) { body += $0 }
        }
        var file: [UInt8] = []
        withUnsafeBytes(of: Int32(used ?? 8 + body.count).littleEndian) { file += $0 }
        file += [0, 0, 0, 0] + body
        if let size { file = Array((file + Array(repeating: 0, count: max(0, size - file.count))).prefix(size)) }
        return file
    }

    private func parse(_ file: [UInt8]) -> EntryParser.Outcome {
        file.withUnsafeBytes { raw in
            EntryParser.parse(raw, from: 8, used: raw.count >= 8 ? EntryParser.readUsed(raw) : 0, valueWidth: 16)
        }
    }

    @Test func wellFormed() {
        let outcome = parse(image(["abc", "defgh", "0123456789", "abcd"], size: 4096))
        #expect(outcome.problem == nil)
        #expect(outcome.entries.map(\.keyLength) == [3, 5, 10, 4])
        // 4 + n + pad is a multiple of 8 with pad in 1...8 (8 when 4 + n is already aligned).
        #expect(outcome.entries.map(\.valueOffset) == [16, 48, 80, 112])
        #expect(outcome.end == 128)
    }

    @Test func usedPastTheFileKeepsEntriesThatFit() {
        var file = image(["abc", "defgh"])
        file.removeLast(3)  // the second value is cut by the end of the file
        file.withUnsafeBytes { raw in
            let used = 200
            #expect(EntryParser.headerProblem(used: used, fileSize: raw.count)?.0 == .usedBeyondFile)
            let outcome = EntryParser.parse(raw, from: 8, used: used, valueWidth: 16)
            #expect(outcome.entries.count == 1)
            #expect(outcome.problem == nil)  // reported once, as the header problem
        }
    }

    @Test func headerProblems() {
        #expect(EntryParser.headerProblem(used: 0, fileSize: 4)?.0 == .shortHeader)
        #expect(EntryParser.headerProblem(used: 0, fileSize: 65536)?.0 == .usedBelowHeader)
        #expect(EntryParser.headerProblem(used: -5, fileSize: 65536)?.0 == .usedBelowHeader)
        #expect(EntryParser.headerProblem(used: 8, fileSize: 65536) == nil)
    }

    @Test func keyLengthPastUsedStopsAtThatEntry() {
        var file = image(["abc", "defgh", "ijk"])
        // Third entry claims a 1000-byte key.
        let third = 8 + 24 + 32
        withUnsafeBytes(of: Int32(1000).littleEndian) { for i in 0..<4 { file[third + i] = $0[i] } }
        let outcome = parse(file)
        #expect(outcome.entries.count == 2)
        #expect(outcome.problem?.0 == .keyLengthOutOfBounds)
        #expect(outcome.end == third)
    }

    @Test(arguments: [Int32(0), -1, Int32.min, Int32.max])
    func absurdKeyLengths(_ n: Int32) {
        var file = image(["abc"])
        withUnsafeBytes(of: n.littleEndian) { for i in 0..<4 { file[8 + i] = $0[i] } }
        let outcome = parse(file)
        #expect(outcome.entries.isEmpty)
        #expect(outcome.problem?.0 == .keyLengthOutOfBounds)
    }

    @Test func valueCutByUsed() {
        let file = image(["abc", "defgh"])
        var shorter = file
        withUnsafeBytes(of: Int32(file.count - 8).littleEndian) { for i in 0..<4 { shorter[i] = $0[i] } }
        let outcome = parse(shorter)
        #expect(outcome.entries.count == 1)
        #expect(outcome.problem?.0 == .truncatedEntry)
    }

    @Test func lengthFieldCutByUsed() {
        var file = image(["abc"]) + [1, 0]
        withUnsafeBytes(of: Int32(file.count).littleEndian) { for i in 0..<4 { file[i] = $0[i] } }
        let outcome = parse(file)
        #expect(outcome.entries.count == 1)
        #expect(outcome.problem?.0 == .truncatedEntry)
    }

    @Test func randomBytesNeverTrapAndStayInBounds() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let count = Int.random(in: 0..<300, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if count >= 4, Bool.random(using: &generator) {
                withUnsafeBytes(of: Int32.random(in: 0...Int32(count + 16), using: &generator).littleEndian) {
                    for i in 0..<4 { bytes[i] = $0[i] }
                }
            }
            bytes.withUnsafeBytes { raw in
                let used = raw.count >= 8 ? EntryParser.readUsed(raw) : 0
                let outcome = EntryParser.parse(raw, from: 8, used: used, valueWidth: 16)
                for entry in outcome.entries {
                    #expect(Int(entry.keyStart) + Int(entry.keyLength) <= raw.count)
                    #expect(Int(entry.valueOffset) + 16 <= raw.count)
                }
            }
        }
    }
}
