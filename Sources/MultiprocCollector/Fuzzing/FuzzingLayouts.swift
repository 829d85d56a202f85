// MARK: - The same entries in two layouts (FOR FUZZING ONLY)

extension CollectorFuzzing {
    /// Layout pairs that must read the same: an entry without a timestamp counts as timestamp
    /// 0, a key without help gets `Multiprocess metric`, label lists mean the labels they zip.
    /// The first of each pair is written with exactly what the second implies.
    static let equivalentLayouts: [(FileLayout, FileLayout, sameHelp: Bool)] = [
        (.k4v16, .k4v8, true), (.k4v16, .k3v8, false), (.k4v16, .k4lv8, false), (.k3v8, .k4lv8, false), (.k4v8, .k3v8, false),
    ]

    /// Metric names the entries use: plain, UTF-8, empty (refused alike in every layout).
    static let metricNames = ["m", "é.x", "", "m_total"]
    static let sampleSuffixes = ["", "_total", "_bucket", "_sum", "_count", "_created"]

    /// Input: byte 0 picks the file name, byte 1 the layout pair and help text; then entries,
    /// each 1 byte (metric, sample suffix, label count), per label a length byte and that
    /// many bytes of value (decoded as UTF-8 with replacement, so any bytes make a label
    /// value; names come from the entry's position), and 8 bytes of value. Both files are
    /// built with ``FileImage``; each must be detected as its own layout, and the two must
    /// give byte-identical bodies in two formats, alone and merged with a file of today's
    /// layout (so the help of the first file merged shows).
    package static func layoutEquivalence(_ data: UnsafeRawBufferPointer) {
        guard data.count >= 2 else { return }
        let name = fileNames[Int(data[0]) % fileNames.count]
        let (first, second, sameHelp) = equivalentLayouts[Int(data[1]) % equivalentLayouts.count]
        let help = sameHelp ? "Help \"x\"\n\\" : SampleKey.multiprocessHelp
        var entries: [(metric: String, sample: String, labels: [(name: String, value: String)], value: Double)] = []
        var pos = 2
        while pos < data.count, entries.count < 64 {
            let head = Int(data[pos])
            pos += 1
            let metric = metricNames[head & 3]
            let sample = metric + sampleSuffixes[(head >> 2) % sampleSuffixes.count]
            var labels: [(name: String, value: String)] = []
            for l in 0..<(head >> 6) {
                guard pos < data.count else { break }
                let length = min(Int(data[pos]) & 15, data.count - pos - 1)
                let bytes = UnsafeRawBufferPointer(rebasing: data[(pos + 1)..<(pos + 1 + length)])
                labels.append((name: l == 2 ? "le" : "l\(l)", value: String(decoding: bytes, as: UTF8.self)))
                pos += 1 + length
            }
            guard data.count - pos >= 8 else { break }
            let value = Double(bitPattern: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: pos, as: UInt64.self)))
            pos += 8
            entries.append((metric, sample, labels, value))
        }
        guard !entries.isEmpty else { return }

        let formats = [Self.formats[0], Self.formats[1 + Int(data[0] >> 4) % (Self.formats.count - 1)]]
        func image(_ layout: FileLayout) -> [UInt8] {
            let built = entries.map {
                FileImage.Entry(key: PythonKeys.encode(metric: $0.metric, sample: $0.sample, labels: $0.labels, help: help,
                                                       shape: layout.keyShape), value: $0.value)
            }
            let bytes = FileImage.build(built, valueWidth: layout.valueWidth, size: 4096)
            // Every key decodes but those with an empty metric name; an 8-byte file needs one
            // that decodes to tell its key shape (else it is undetectable, and serves nothing
            // either way).
            let detected = bytes.withUnsafeBytes { LayoutDetection.detect($0, used: EntryParser.readUsed($0)) }
            if detected != .detected(layout), layout == .k4v16 || entries.contains(where: { !$0.metric.isEmpty }) {
                fatalError("a file written in \(layout) was detected as \(detected)")
            }
            return bytes
        }
        let (a, b) = (image(first), image(second))
        for withGoodFile in [false, true] {
            func bodies(_ bytes: [UInt8]) -> [[UInt8]] {
                var scrape = InMemoryScrape()
                let fuzzed = InMemoryFile(name: name, bytes: bytes)
                let files = withGoodFile ? [fuzzed.tracked, InMemoryFile(name: "counter_1.db", bytes: goodFile).tracked] : [fuzzed.tracked]
                return render(scrape.scrape(files), formats)
            }
            for (i, (x, y)) in zip(bodies(a), bodies(b)).enumerated() where x != y {
                fatalError("""
                    \(first) and \(second) read differently in format \(formats[i]):
                    --- \(first)
                    \(String(decoding: x, as: UTF8.self))
                    --- \(second)
                    \(String(decoding: y, as: UTF8.self))
                    """)
            }
        }
    }
}
