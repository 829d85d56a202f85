// MARK: - Whole files as prometheus_client writes them

/// Metric file images in any ``FileLayout``, byte for byte as the writers of that layout lay
/// them out (header, entries, zeros up to `size`), for tests and fuzzing.
package enum FileImage {
    /// One entry: its key text, value and timestamp (dropped by 8-byte layouts).
    package struct Entry {
        /// The key's UTF-8 bytes, exactly as the file holds them.
        package var key: [UInt8]
        package var value: Double
        package var timestamp: Double

        package init(key: String, value: Double, timestamp: Double = 0) {
            self.init(keyBytes: Array(key.utf8), value: value, timestamp: timestamp)
        }

        package init(keyBytes: [UInt8], value: Double, timestamp: Double = 0) {
            key = keyBytes
            self.value = value
            self.timestamp = timestamp
        }
    }

    /// The file: `used` then 4 zero bytes, each entry as int32 length, key, spaces to 8-byte
    /// alignment, value (and timestamp), then zeros up to `size` (default: no tail).
    package static func build(_ entries: [Entry], valueWidth: Int, used: Int? = nil, size: Int? = nil) -> [UInt8] {
        var body: [UInt8] = []
        for entry in entries {
            let key = entry.key
            withUnsafeBytes(of: Int32(key.count).littleEndian) { body += $0 }
            body += key + [UInt8](repeating: UInt8(ascii: " "), count: 8 - (key.count + 4) % 8)
            withUnsafeBytes(of: entry.value.bitPattern.littleEndian) { body += $0 }
            if valueWidth == 16 { withUnsafeBytes(of: entry.timestamp.bitPattern.littleEndian) { body += $0 } }
        }
        var file: [UInt8] = []
        withUnsafeBytes(of: Int32(truncatingIfNeeded: used ?? 8 + body.count).littleEndian) { file += $0 }
        file += [0, 0, 0, 0] + body
        if let size, size > file.count { file += [UInt8](repeating: 0, count: size - file.count) }
        return file
    }

    /// The same samples in `layout`: keys in its shape, values in its width.
    package static func build(metric: String, samples: [(sample: String, labels: [(name: String, value: String)], value: Double, timestamp: Double)],
                              help: String, layout: FileLayout, size: Int? = nil) -> [UInt8] {
        let entries = samples.map {
            Entry(key: PythonKeys.encode(metric: metric, sample: $0.sample, labels: $0.labels, help: help, shape: layout.keyShape),
                  value: $0.value, timestamp: $0.timestamp)
        }
        return build(entries, valueWidth: layout.valueWidth, size: size)
    }
}
