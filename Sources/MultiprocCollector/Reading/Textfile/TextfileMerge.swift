// MARK: - Families of many textfiles, merged when they agree

/// Merges the families of the textfiles, file by file in name order, as node_exporter's
/// textfile collector and client_golang's registry do: a family found in several files is one
/// family with the samples of all of them, as long as they agree.
///
/// A family of a file is left out, with a problem naming it, when:
/// - it takes a name the caller keeps (``reserved``, `prefix`): the exporter's own metrics;
/// - it takes a name a `.db` family takes (``NameClaims``): the directory's family is what
///   prometheus_client serves;
/// - its type, or its HELP where both files have one, differs from the same family in an
///   earlier file, or it takes a name another family took (a `# TYPE` twice for one name);
/// - it repeats a sample (name and labels, a label with an empty value counting as absent,
///   as Prometheus counts it) of its own file or of the family in an earlier file, also where
///   only an escaping makes two samples one (``SeriesIdentity``).
///
/// The first file decides; later files never change what earlier ones served. A family
/// without `# HELP` in any file gets node_exporter's "Metric read from <files>".
struct TextfileMerge {
    private struct Merged {
        var family: MetricFamily
        var help: String?
        var files: [String]
        var series: Set<SeriesIdentity>
        /// Every sample's identities in every escaping, kept once a sample of the family has a
        /// name outside the legacy character set (see ``SeriesIdentity``).
        var escapedSeries: Set<SeriesIdentity>?
    }

    private let directoryClaims: NameClaims
    private let reserved: NameClaims
    private let reservedPrefix: String?
    /// The families so far, in the order they came.
    private var merged: [Merged] = []
    private var indexByName: [ExactString: Int] = [:]
    /// Which family (index in `merged`) took each name.
    private var owners: [NameClaims.Key: Int] = [:]

    init(directoryClaims: NameClaims, reserved: NameClaims, reservedPrefix: String?) {
        self.directoryClaims = directoryClaims
        self.reserved = reserved
        self.reservedPrefix = reservedPrefix
    }

    /// Adds one family of `file`, or says why it is left out.
    mutating func add(_ candidate: TextfileFamily, file: String) -> TextfileProblem? {
        let family = candidate.family
        let name = ExactString(family.name)
        func problem(_ reason: TextfileProblem.Reason, _ detail: String) -> TextfileProblem {
            TextfileProblem(file: file, family: family.name, reason: reason, detail: detail)
        }
        let keys = NameClaims.keys(of: family)
        if reserved.claimsAny(of: keys) || reservedPrefix.map({ NameClaims.anyName(of: family, hasPrefix: $0) }) == true {
            return problem(.reservedName, "the exporter serves a metric of this name itself")
        }
        if directoryClaims.claimsAny(of: keys) {
            return problem(.shadowedByDBFiles, "the .db files have a family of this name, which is served instead")
        }
        let index = indexByName[name]
        if let key = keys.first(where: { owners[$0].map { $0 != index } ?? false }), let owner = owners[key] {
            return problem(.conflictingFamily, "takes a name of family \(merged[owner].family.name) from \(merged[owner].files[0])")
        }
        let existing = index.map { merged[$0] }
        if let existing {
            if existing.family.type != family.type {
                return problem(.conflictingFamily, "type \(family.type.rawValue) here, \(existing.family.type.rawValue) in \(existing.files[0])")
            }
            if let help = candidate.help, let earlier = existing.help, !help.exactlyEquals(earlier) {
                return problem(.conflictingFamily, "HELP differs from the one in \(existing.files[0])")
            }
        }
        var series = Set<SeriesIdentity>(minimumCapacity: family.samples.count)
        for (index, sample) in family.samples.enumerated() {
            let key = SeriesIdentity(sample)
            if existing?.series.contains(key) == true {
                return problem(.duplicateSample, "line \(candidate.lines[index]) repeats a sample of \(existing!.files[0]): \(Self.describe(sample))")
            }
            if !series.insert(key).inserted {
                let first = family.samples.indices.first { SeriesIdentity(family.samples[$0]) == key }!
                return problem(.duplicateSample, "line \(candidate.lines[index]) repeats the sample of line \(candidate.lines[first]): \(Self.describe(sample))")
            }
        }
        var escapedSeries = existing?.escapedSeries
        if escapedSeries != nil || family.samples.contains(where: SeriesIdentity.hasNonLegacyName) {
            // Names as an escaping writes them: samples that differ only there are one series in that format.
            var known = escapedSeries ?? Set(existing?.family.samples.flatMap(SeriesIdentity.escapedKeys) ?? [])
            var local = Set<SeriesIdentity>()
            for (index, sample) in family.samples.enumerated() {
                for key in SeriesIdentity.escapedKeys(sample) where known.contains(key) || !local.insert(key).inserted {
                    return problem(.duplicateSample, "line \(candidate.lines[index]): \(Self.describe(sample)) is another sample of the family "
                                   + "once names are written with escaping=\(key.scheme!.rawValue)")
                }
            }
            known.formUnion(local)
            escapedSeries = known
        }
        let owner: Int
        if let index {
            merged[index].family.samples += family.samples
            merged[index].help = merged[index].help ?? candidate.help
            merged[index].files.append(file)
            merged[index].series.formUnion(series)
            merged[index].escapedSeries = escapedSeries
            owner = index
        } else {
            merged.append(Merged(family: family, help: candidate.help, files: [file], series: series, escapedSeries: escapedSeries))
            owner = merged.count - 1
            indexByName[name] = owner
        }
        for key in keys where owners[key] == nil { owners[key] = owner }
        return nil
    }

    /// The merged families, sorted by name.
    func families() -> [MetricFamily] {
        merged.map { entry in
            var family = entry.family
            family.help = entry.help ?? "Metric read from \(entry.files.joined(separator: ", "))"
            return family
        }
        .sorted { $0.name.exactlyPrecedes($1.name) }
    }

    /// `name{a="b",…}` for messages.
    private static func describe(_ sample: Sample) -> String {
        var out: [UInt8] = []
        ExpositionWriter.appendLinePrefix(sampleName: sample.name, labels: sample.labels,
                                          format: ExpositionFormat(syntax: .openMetrics, escaping: .allowUTF8, contentType: ""),
                                          into: &out)
        return String(decoding: out.dropLast(), as: UTF8.self)
    }
}
