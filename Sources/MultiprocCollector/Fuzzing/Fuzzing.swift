import Glibc
import MultiprocSupport

// MARK: - Entry points for the libFuzzer targets (FOR FUZZING ONLY)
//
// `package` access: visible to the fuzz targets of this package (`Fuzz/`, built only by
// `make fuzz` with MULTIPROC_FUZZ=1), invisible to users of the library. Each entry point
// traps (`fatalError`) when an invariant breaks, which libFuzzer records as a crash.
// Nothing here is used by the exporter itself.

/// Fuzzing entry points for the `MultiprocCollector` module. Not API: for `Fuzz/` only.
package enum CollectorFuzzing {

    /// The file names the file-reader target writes its input under (first input byte picks one).
    static let fileNames = [
        "counter_7.db", "histogram_7.db", "summary_7.db", "gauge_all_7.db", "gauge_livesum_7.db",
        "gauge_max_7.db", "gauge_min_7.db", "gauge_mostrecent_7.db", "gauge_livemostrecent_7.db", "gauge_sum_7.db",
    ]

    /// Formats a body is rendered in: text 0.0.4 and one of the others, picked by the input.
    static let formats: [ExpositionFormat] = [
        "", "application/openmetrics-text", "text/plain;version=1.0.0;escaping=allow-utf-8",
        "application/openmetrics-text;version=1.0.0;escaping=dots", "text/plain;version=1.0.0;escaping=values",
    ].map { ExpositionFormat.negotiate(accept: $0) }

    /// A whole scrape through the filesystem, with a differential check of the cache.
    ///
    /// Input: byte 0 picks the file name, byte 1 an earlier state of the file, the rest is the
    /// file content. A good `counter_1.db` sits beside it so that the fuzzed file merges with
    /// real entries. Steps:
    /// 1. write an earlier state a real writer could have left: `used` on one of the content's
    ///    entry boundaries (chosen by byte 1), bytes past it zeroed or already written, the file
    ///    possibly shorter (then the final write grows it, as `ftruncate` doubling does); scrape;
    /// 2. write the full content into the same inode; scrape again with the same collector
    ///    (warm: incremental parse, remap);
    /// 3. scrape with a fresh collector (cold) and require byte-identical bodies in two formats;
    /// 4. require no problem for the good file, valid UTF-8 bodies, and `check` to agree (for a
    ///    quarter of the inputs).
    /// Half the inputs (bit 0x20 of byte 1) only get one cold scrape of the content, for speed.
    package static func scrape(_ data: UnsafeRawBufferPointer, directory: String) {
        guard data.count >= 2 else { return }
        let name = fileNames[Int(data[0]) % fileNames.count]
        let mode = Int(data[1])
        let content = UnsafeRawBufferPointer(rebasing: data[2...])

        // The good file stays from run to run (rewritten if a run changed it); the fuzzed
        // file is created afresh, so every run starts from the same directory.
        if (try? FileContents.read(directory + "/counter_1.db")) != goodFile {
            removeAll(in: directory)
            writeFile(directory + "/counter_1.db", goodFile)
        }
        let path = directory + "/" + name
        unlink(path)
        writeFile(path, earlierState(of: content, mode: mode))

        guard let warmCollector = try? DirectoryCollector(directory: directory) else { fatalError("cannot open \(directory)") }
        // Text 0.0.4 and one other format, chosen by the file name byte.
        let formats = [Self.formats[0], Self.formats[1 + Int(data[0] >> 4) % (Self.formats.count - 1)]]
        if mode & 0x20 != 0 {
            // Half the inputs: one cold scrape of the final content, for speed (each scrape
            // costs a dozen system calls; the differential below costs three scrapes).
            overwriteInPlace(path, content)
            let bodies = render(warmCollector.collect(), formats)
            for body in bodies where String(validating: body, as: UTF8.self) == nil { fatalError("body is not valid UTF-8") }
            return
        }
        _ = render(warmCollector.collect(), formats)
        overwriteInPlace(path, content)
        let warm = warmCollector.collect()
        let cold = (try? DirectoryCollector(directory: directory))!.collect()
        let warmBodies = render(warm, formats)
        let coldBodies = render(cold, formats)
        for (i, (w, c)) in zip(warmBodies, coldBodies).enumerated() where w != c {
            fatalError("warm and cold bodies differ in format \(formats[i]):\n--- warm\n\(String(decoding: w, as: UTF8.self))\n--- cold\n\(String(decoding: c, as: UTF8.self))")
        }
        for problem in cold.problems where problem.file == "counter_1.db" {
            fatalError("the good file got a problem: \(problem)")
        }
        for body in coldBodies where String(validating: body, as: UTF8.self) == nil {
            fatalError("body is not valid UTF-8")
        }
        // `check` reads the same directory from scratch and must not flag the good file
        // (a quarter of the inputs: it is a third full read).
        guard mode & 0xC0 == 0xC0 else { return }
        let report = warmCollector.inspect()
        if report.files.contains(where: { $0.name == "counter_1.db" && !$0.isOK }) { fatalError("check flags the good file") }
    }

    /// The file reader in memory: the same parse, key table, merge plan, value load and
    /// render as a scrape, without the filesystem (a scrape costs a dozen system calls; this
    /// runs ten times as many inputs per second). Input as for ``scrape(_:directory:)``.
    ///
    /// The fuzzed file and a good counter file are anonymous mappings handed to
    /// ``TrackedFile``s. Warm: the earlier state is read, then the final content is copied
    /// into the same mapping (a writer appending and updating values) and read again with the
    /// same key table and plan builder. Cold: fresh state over the final content. Bodies in
    /// two formats must be byte-identical. Growing past the mapping needs the filesystem (a
    /// remap): ``scrape(_:directory:)`` covers that.
    package static func fileReader(_ data: UnsafeRawBufferPointer) {
        guard data.count >= 2 else { return }
        let name = fileNames[Int(data[0]) % fileNames.count]
        let mode = Int(data[1])
        let content = UnsafeRawBufferPointer(rebasing: data[2...])
        let formats = [Self.formats[0], Self.formats[1 + Int(data[0] >> 4) % (Self.formats.count - 1)]]
        guard !content.isEmpty else { return }  // an empty file is never mapped

        var earlier = earlierState(of: content, mode: mode & ~1)
        earlier += [UInt8](repeating: 0, count: content.count - earlier.count)
        let good = InMemoryFile(name: "counter_1.db", bytes: goodFile)
        let fuzzed = InMemoryFile(name: name, bytes: earlier)
        var warm = InMemoryScrape()
        _ = render(warm.scrape([good.tracked, fuzzed.tracked]), formats)
        fuzzed.overwrite(with: content)
        let warmSnapshot = warm.scrape([good.tracked, fuzzed.tracked])

        var cold = InMemoryScrape()
        let coldSnapshot = cold.scrape([InMemoryFile(name: "counter_1.db", bytes: goodFile).tracked,
                                        InMemoryFile(name: name, bytes: [UInt8](content)).tracked])
        let warmBodies = render(warmSnapshot, formats)
        let coldBodies = render(coldSnapshot, formats)
        for (i, (w, c)) in zip(warmBodies, coldBodies).enumerated() where w != c {
            fatalError("warm and cold bodies differ in format \(formats[i]):\n--- warm\n\(String(decoding: w, as: UTF8.self))\n--- cold\n\(String(decoding: c, as: UTF8.self))")
        }
        for problem in coldSnapshot.problems where problem.file == "counter_1.db" {
            fatalError("the good file got a problem: \(problem)")
        }
        for body in coldBodies where String(validating: body, as: UTF8.self) == nil { fatalError("body is not valid UTF-8") }
    }

    /// A metric file held in an anonymous mapping, tracked as if it had been listed.
    final class InMemoryFile {
        let tracked: TrackedFile
        private let base: UnsafeMutableRawPointer
        private let length: Int

        init(name: String, bytes: [UInt8]) {
            length = bytes.count
            guard let raw = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
                fatalError("mmap failed")
            }
            base = raw
            bytes.withUnsafeBytes { raw.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            // The mapping owns (and unmaps) the memory.
            tracked = TrackedFile(listed: MetricDirectory.ListedFile(name: name, parsed: MetricFileName(name)!, inode: 1, isSymlink: false),
                                  mapping: MappedFile(base: UnsafeRawPointer(raw), length: length, identity: FileIdentity(device: 0, inode: 1)))
        }

        func overwrite(with content: UnsafeRawBufferPointer) {
            precondition(content.count == length)
            base.copyMemory(from: content.baseAddress!, byteCount: length)
        }
    }

    /// ``CacheState/refresh(path:newlyDead:)`` without the directory: refresh each file, load
    /// values, update the plan when the inputs changed, fold.
    struct InMemoryScrape {
        var keys = KeyTable()
        var builder = PlanBuilder()
        var signature: [[Int]] = []

        mutating func scrape(_ files: [TrackedFile]) -> Snapshot {
            var problems: [FileProblem] = []
            var ready: [TrackedFile] = []
            for file in files {
                // No directory: a file whose `used` lies past its mapping cannot be remapped
                // and is excluded as unreadable, warm and cold alike.
                switch file.refresh(directory: -1, keys: &keys) {
                case .ready: ready.append(file)
                case .excluded(let problem): if let problem { problems.append(problem) }
                }
            }
            var merged: [TrackedFile] = []
            for (file, fault) in zip(ready, ValueLoader.load(ready)) {
                if let fault { problems.append(fault); continue }
                problems += file.problems
                merged.append(file)
            }
            let current = merged.map { [$0.id, $0.generation] }
            if current != signature {
                _ = builder.update(files: merged, keys: keys)
                signature = current
            }
            for file in merged { problems += builder.problems(of: file) }
            let plan = builder.plan
            let slots = plan.accumulate(entrySlots: merged.map { builder.slots(of: $0) },
                                        values: merged.map(\.values), timestamps: merged.map(\.timestamps))
            return Snapshot(plan: plan, slots: slots, problems: problems, statistics: ScrapeStatistics())
        }
    }

    /// The key decoder with a round-trip oracle: a key that decodes, re-encoded the way the
    /// releases that wrote its shape write it (`json.dumps(..., sort_keys=True)`, or the label
    /// lists of releases before 0.4), decodes to the same key and shape; and today's decoder
    /// accepts exactly the keys of today's shape.
    package static func keyDecoder(_ data: UnsafeRawBufferPointer) {
        let decoded: SampleKey, shape: KeyShape
        do { (decoded, shape) = try SampleKey.decodeAnyShape(data) } catch {
            _ = error.reason
            _ = error.detail
            if (try? SampleKey.decode(data)) != nil { fatalError("today's decoder accepts a key decodeAnyShape refuses") }
            return
        }
        if ((try? SampleKey.decode(data)) == decoded) != (shape == .labelsAndHelp) {
            fatalError("today's decoder and decodeAnyShape disagree on a key of shape \(shape)")
        }
        if shape != .labelsAndHelp, decoded.help != SampleKey.multiprocessHelp { fatalError("an old key got help \(decoded.help)") }
        for label in decoded.labels.indices.dropFirst()
        where !decoded.labels[label - 1].name.exactlyPrecedes(decoded.labels[label].name) {
            fatalError("labels not strictly sorted: \(decoded.labels)")
        }
        let encoded = Array(PythonKeys.encode(metric: decoded.metricName, sample: decoded.sampleName,
                                              labels: decoded.labels.map { ($0.name, $0.value) }, help: decoded.help, shape: shape).utf8)
        let again = encoded.withUnsafeBytes { try? SampleKey.decodeAnyShape($0) }
        guard let again else { fatalError("re-encoded key does not decode: \(String(decoding: encoded, as: UTF8.self))") }
        guard again.0 == decoded, again.1 == shape else { fatalError("round trip changed the key: \(decoded) -> \(again)") }
    }

    /// The entry parser alone on an in-memory image, with both value widths: every entry it
    /// returns lies inside the bytes and inside `used`, entries do not overlap, and parsing
    /// resumed from any entry boundary finds the same entries. Layout detection never traps
    /// and, when it decides, decides a width whose walk finds entries.
    package static func entryParser(_ data: UnsafeRawBufferPointer) {
        for width in [16, 8] { entryParser(data, valueWidth: width) }
        guard data.count >= EntryParser.headerSize else { return }
        let used = EntryParser.readUsed(data)
        guard used >= EntryParser.headerSize, case .detected(let layout) = LayoutDetection.detect(data, used: used) else { return }
        if EntryParser.parse(data, from: EntryParser.headerSize, used: used, valueWidth: layout.valueWidth).entries.isEmpty {
            fatalError("detected \(layout) for a file without entries of that width")
        }
    }

    private static func entryParser(_ data: UnsafeRawBufferPointer, valueWidth: Int) {
        guard data.count >= EntryParser.headerSize else {
            _ = EntryParser.headerProblem(used: 0, fileSize: data.count)
            return
        }
        let used = EntryParser.readUsed(data)
        _ = EntryParser.headerProblem(used: used, fileSize: data.count)
        let outcome = EntryParser.parse(data, from: EntryParser.headerSize, used: used, valueWidth: valueWidth)
        var previousEnd = EntryParser.headerSize
        for entry in outcome.entries {
            let start = Int(entry.keyStart), length = Int(entry.keyLength), value = Int(entry.valueOffset)
            guard start == previousEnd + 4, length > 0, start + length < value, value % 8 == 0,
                  value + valueWidth <= min(used, data.count) else { fatalError("entry out of bounds: \(entry) used=\(used) size=\(data.count)") }
            previousEnd = value + valueWidth
        }
        guard outcome.end == previousEnd else { fatalError("end \(outcome.end) is not past the last entry \(previousEnd)") }
        if let middle = outcome.entries.dropFirst(outcome.entries.count / 2).first {
            let resumed = EntryParser.parse(data, from: Int(middle.keyStart) - 4, used: used, valueWidth: valueWidth)
            let tail = outcome.entries.drop { $0.keyStart != middle.keyStart }
            guard resumed.entries.map(\.valueOffset) == tail.map(\.valueOffset), resumed.end == outcome.end else {
                fatalError("resumed parse disagrees")
            }
        }
    }

    // MARK: Helpers

    /// A state the writer of `content` could have left earlier (see ``scrape(_:directory:)``).
    static func earlierState(of content: UnsafeRawBufferPointer, mode: Int) -> [UInt8] {
        var bytes = [UInt8](content)
        guard content.count >= EntryParser.headerSize else { return bytes }
        let used = EntryParser.readUsed(content)
        // Entry boundaries in the content's own layout (today's when undecided).
        var width = 16
        if used >= EntryParser.headerSize, case .detected(let layout) = LayoutDetection.detect(content, used: used) {
            width = layout.valueWidth
        }
        let boundaries = [EntryParser.headerSize] + EntryParser.parse(content, from: EntryParser.headerSize, used: used, valueWidth: width)
            .entries.map { Int($0.valueOffset) + width }
        let earlierUsed = boundaries[(mode >> 2) % boundaries.count]
        withUnsafeBytes(of: Int32(earlierUsed).littleEndian) { for i in 0..<4 { bytes[i] = $0[i] } }
        if mode & 2 != 0 { for i in earlierUsed..<bytes.count { bytes[i] = 0 } }
        if mode & 1 != 0 { bytes.removeLast(bytes.count - max(earlierUsed, EntryParser.headerSize)) }
        return bytes
    }

    static func render(_ snapshot: Snapshot, _ formats: [ExpositionFormat]) -> [[UInt8]] {
        _ = snapshot.families
        return formats.map { snapshot.body($0) }
    }


    /// A valid counter file: one entry shared by name with typical seeds.
    static let goodFile: [UInt8] = {
        let key = Array(#"["c", "c_total", {"a": "b"}, "Help."]"#.utf8)
        var bytes: [UInt8] = []
        let padding = 8 - (key.count + 4) % 8
        let used = 8 + 4 + key.count + padding + 16
        withUnsafeBytes(of: Int32(used).littleEndian) { bytes += $0 }
        bytes += [0, 0, 0, 0]
        withUnsafeBytes(of: Int32(key.count).littleEndian) { bytes += $0 }
        bytes += key + [UInt8](repeating: 0x20, count: padding)
        withUnsafeBytes(of: (2.0, 0.0)) { bytes += $0 }
        return bytes + [UInt8](repeating: 0, count: 4096 - bytes.count)
    }()

    private static func removeAll(in directory: String) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != ".", name != ".." { names.append(name) }
        }
        for name in names { unlink(directory + "/" + name) }
    }

    private static func writeFile(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { fatalError("cannot create \(path)") }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    private static func overwriteInPlace(_ path: String, _ bytes: UnsafeRawBufferPointer) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { fatalError("cannot open \(path)") }
        _ = pwrite(fd, bytes.baseAddress, bytes.count, 0)
        close(fd)
    }
}
