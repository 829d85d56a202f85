import Glibc

// MARK: - No counter goes backwards across a compaction

/// Float addition is not associative: once the dead workers' values are pre-summed in an
/// archive, a counter that is not an integer (a histogram's `_sum`, a `Counter.inc(0.1)`) can
/// come out a few units in the last place *lower* than before the switch, and Prometheus reads
/// any decrease as a counter reset. Right after a switch, still under the collector's lock,
/// every counter, histogram and summary series that decreased gets its archive entry raised
/// by the smallest amount that makes it at least what was served before.
///
/// What that costs: the archive holds the dead workers' sum plus at most a few ulps; Python
/// reading the same files gets exactly what the exporter serves. Integer counts (requests,
/// bucket counts) never need it: their sums are exact in any order.
enum MonotonicGuard {
    /// One series that went down.
    struct Drop {
        var family: String
        var type: MetricType
        var sample: Sample
        var before: Double
    }

    /// A drop this much below the value (relative), or less, is rounding; anything larger is
    /// not the pass's doing (the app wiped the directory during the switch) and is left alone.
    static let roundingBound = 1e-9

    /// Counter-like series of `after` whose value is below the same series in `before` by
    /// rounding (see ``roundingBound``).
    static func drops(from before: Snapshot, to after: Snapshot) -> [Drop] {
        var previous: [SeriesKey: Double] = [:]
        for family in before.families where family.type != .gauge {
            for sample in family.samples { previous[SeriesKey(family: family.name, sample: sample)] = sample.value }
        }
        var drops: [Drop] = []
        for family in after.families where family.type != .gauge {
            for sample in family.samples {
                guard let old = previous[SeriesKey(family: family.name, sample: sample)], sample.value < old,
                      old - sample.value <= roundingBound * max(old.magnitude, sample.value.magnitude) else { continue }
                drops.append(Drop(family: family.name, type: family.type, sample: sample, before: old))
            }
        }
        return drops
    }

    /// Raises archive entries for `drops`; returns the archives written (to be read again).
    /// `valueOffsets`: per archive name, entry key → value offset. A drop whose series has no
    /// entry in an archive (a derived series: histogram buckets and counts) is left alone:
    /// those are sums of integers.
    static func raise(_ drops: [Drop], directory: Int32, valueOffsets: [String: [[UInt8]: Int]], round: Int) -> Set<String> {
        var written = Set<String>()
        for drop in drops {
            let archive = "\(drop.type.rawValue)_\(ArchiveContent.pid).db"
            guard let offsets = valueOffsets[archive],
                  let (_, offset) = offsets.first(where: { key, _ in matches(key, drop) }) else { continue }
            let fd = openat(directory, archive, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var value = 0.0
            guard pread(fd, &value, 8, off_t(offset)) == 8 else { continue }
            // The deficit, doubled each round: the sum it lands in rounds too.
            var raised = value + (drop.before - drop.sample.value) * Double(1 << round)
            if raised <= value { raised = value.nextUp }
            guard pwrite(fd, &raised, 8, off_t(offset)) == 8 else { continue }
            fsync(fd)
            written.insert(archive)
        }
        return written
    }

    /// Whether archive entry `key` is the series of `drop`.
    private static func matches(_ key: [UInt8], _ drop: Drop) -> Bool {
        guard let decoded = key.withUnsafeBytes({ try? SampleKey.decode($0) }) else { return false }
        return decoded.familyName(in: drop.type).exactlyEquals(drop.family) && decoded.sampleName.exactlyEquals(drop.sample.name)
            && decoded.labels == drop.sample.labels
    }

    /// A series' identity, compared by bytes (``ExactString``, ``Label``), as Python compares it.
    private struct SeriesKey: Hashable {
        var family: ExactString
        var sample: ExactString
        var labels: [Label]

        init(family: String, sample: Sample) {
            self.family = ExactString(family)
            self.sample = ExactString(sample.name)
            labels = sample.labels
        }
    }
}
