import MultiprocCollector
import MultiprocSupport

/// Renders the app's process metrics (``WorkerFamilies``) into a body, exactly as
/// ``ExpositionWriter`` writes ``WorkerFamilies/families(_:)``, from pieces kept between
/// scrapes: per format, each family's `# HELP`/`# TYPE` lines and each line's
/// `name{labels} ` prefix, so that a scrape only appends them and formats the values.
///
/// Why keep them: the same few hundred lines (ten per worker) come back on every scrape, and
/// building their families and escaping their names and labels again cost more than reading
/// `/proc` for them. The pieces are made by ``ExpositionWriter`` itself, so the output cannot
/// differ from it (tested for every format); prefixes of processes no longer served are
/// dropped when they outnumber the live ones.
final class WorkerExposition: Sendable {
    fileprivate struct LineKey: Hashable {
        var family: Int
        var pid: Int
        var mode: Int
    }

    fileprivate struct Pieces {
        var headers: [Int: [UInt8]] = [:]
        var prefixes: [LineKey: [UInt8]] = [:]
    }

    private let pieces = Locked<[ExpositionFormat: Pieces]>([:])

    /// Appends the families of `lines` (``WorkerFamilies/lines(_:)``) in `format`, without `# EOF`.
    func render(_ lines: [WorkerFamilies.Line], format: ExpositionFormat, into out: inout [UInt8]) {
        guard !lines.isEmpty else { return }
        pieces.withLock { all in
            var pieces = all.removeValue(forKey: format) ?? Pieces()  // mutated in place, not copied
            var family = -1
            for line in lines {
                if line.family != family {
                    family = line.family
                    out.append(contentsOf: pieces.header(family, format: format))
                }
                out.append(contentsOf: pieces.prefix(line, format: format))
                FloatFormat.appendGoString(line.value, to: &out)
                out.append(UInt8(ascii: "\n"))
            }
            if pieces.prefixes.count > 2 * lines.count + 64 {
                let live = Set(lines.map { LineKey(family: $0.family, pid: $0.pid, mode: $0.mode?.rawValue ?? -1) })
                pieces.prefixes = pieces.prefixes.filter { live.contains($0.key) }
            }
            all[format] = pieces
        }
    }
}

extension WorkerExposition.Pieces {
    /// `# HELP` and `# TYPE` of a family, as the writer writes them for a family with no sample.
    mutating func header(_ index: Int, format: ExpositionFormat) -> [UInt8] {
        if let header = headers[index] { return header }
        let family = WorkerFamilies.table[index]
        var header: [UInt8] = []
        ExpositionWriter.write([MetricFamily(name: family.name, type: family.type, help: family.help, samples: [])],
                               format: format, into: &header)
        headers[index] = header
        return header
    }

    /// `name{labels} ` of a line: the writer's line for value 0 after the header, without the value.
    mutating func prefix(_ line: WorkerFamilies.Line, format: ExpositionFormat) -> [UInt8] {
        let key = WorkerExposition.LineKey(family: line.family, pid: line.pid, mode: line.mode?.rawValue ?? -1)
        if let prefix = prefixes[key] { return prefix }
        let family = WorkerFamilies.table[line.family]
        let header = header(line.family, format: format)
        var rendered: [UInt8] = []
        ExpositionWriter.write([MetricFamily(name: family.name, type: family.type, help: family.help,
                                             samples: [Sample(name: family.sampleName, labels: WorkerFamilies.labels(of: line), value: 0)])],
                               format: format, into: &rendered)
        var zero: [UInt8] = []
        FloatFormat.appendGoString(0, to: &zero)
        let prefix = Array(rendered[header.count..<(rendered.count - zero.count - 1)])
        prefixes[key] = prefix
        return prefix
    }
}
