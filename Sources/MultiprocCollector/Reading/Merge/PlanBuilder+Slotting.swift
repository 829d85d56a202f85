// MARK: - Metrics and slots, one entry at a time

extension PlanBuilder {

    /// Grows the per-key tables to the key table's size.
    mutating func coverKeys(_ keys: KeyTable) {
        if metricOfKey.count < keys.count { metricOfKey += Array(repeating: .unknown, count: keys.count - metricOfKey.count) }
        memos.cover(keys: keys.count)
    }

    /// The metric of a key, declared on first sight. Where the key disagrees with what is
    /// known of its metric, which file comes first (type, help) or last (gauge mode) decides:
    /// `pass` either applies that rule or gives up (``BuildPass``).
    mutating func declareMetric<Pass: BuildPass>(key id: KeyTable.ID, file: MetricFileName, keys: KeyTable,
                                                 _ pass: Pass.Type) throws(Pass.Failure) -> KeyMetric {
        var known = metricOfKey[Int(id)]
        if known == .unknown {
            guard case .success(let key) = keys.decoded[Int(id)] else {
                metricOfKey[Int(id)] = .undecodable
                return .undecodable
            }
            let family = key.familyName(in: file.type)
            if let index = metricIndex[ExactString(family)] {
                let info = metrics[Int(index)]
                if info.type != file.type || !info.help.exactlyEquals(key.help) {
                    try Pass.orderDecides(.typeOrHelp)
                    metrics[Int(index)].conflicted = true
                }
                known = .metric(index)
            } else {
                let index = Int32(metrics.count)
                metricIndex[ExactString(family)] = index
                metrics.append(MetricInfo(name: family, type: file.type, help: key.help, mode: file.gaugeMode))
                known = .metric(index)
            }
            metricOfKey[Int(id)] = known
        } else if case .metric(let index) = known, metrics[Int(index)].type != file.type {
            // A key seen before: same help by construction; the file may still differ in type.
            try Pass.orderDecides(.typeOrHelp)
            metrics[Int(index)].conflicted = true
        }
        guard case .metric(let index) = known else { return known }
        // A new entry, even of a known key, may be in an earlier or later file than the one
        // that decided a metric whose files disagree.
        if metrics[Int(index)].conflicted { try Pass.orderDecides(.conflictedMetric) }
        if let mode = file.gaugeMode, metrics[Int(index)].mode != mode {
            try Pass.orderDecides(.gaugeMode)
            if metrics[Int(index)].mode != nil { metrics[Int(index)].conflicted = true }
            metrics[Int(index)].mode = mode
        }
        return known
    }

    /// The slot the entries at `memoKey` feed (key `keyID` of `metric`, in a file of `pid`),
    /// created and memoized on first use.
    mutating func slot<Pass: BuildPass>(at memoKey: SlotMemoKey, key keyID: KeyTable.ID, metric: Int32, pid: String, keys: KeyTable,
                                        _ pass: Pass.Type) throws(Pass.Failure) -> SlotMemo {
        let memo = memos[memoKey]
        if memo != .unknown { return memo }
        guard case .success(let key) = keys.decoded[Int(keyID)] else { return .leftOut }
        var labels = key.labels
        switch memoKey {
        case .keyAndPid:
            labels.append(Label(name: "pid", value: pid))
        case .key:
            if metrics[Int(metric)].dropsPid { labels.removeAll { $0.name.exactlyEquals("pid") } }
        }
        let (made, reusable) = try slotFor(metric: metric, key: key, labels: labels, pass)
        if reusable { memos.remember(made, at: memoKey) }
        return made
    }

    /// Slots the entries of `file` from `start` on, one at a time, in entry order.
    mutating func add<Pass: BuildPass>(file: TrackedFile, from start: Int, keys: KeyTable, _ pass: Pass.Type) throws(Pass.Failure) {
        coverKeys(keys)
        var state = fileStates[file.id] ?? FileState(epoch: file.epoch)
        let name = file.parsedName
        var walk = memos.walk(name)
        let keyIDs = file.keyIDs
        state.slots.reserveCapacity(keyIDs.count)
        for j in start..<keyIDs.count {
            let keyID = keyIDs[j]
            var known = metricOfKey[Int(keyID)]
            if Pass.declaresWhileSlotting || known == .unknown {
                known = try declareMetric(key: keyID, file: name, keys: keys, pass)
            }
            guard case .metric(let metric) = known else {
                state.slots.append(MergePlan.noSlot)
                continue
            }
            if walk.enter(metric, dropsPid: metrics[Int(metric)].dropsPid) { state.metrics.insert(metric) }
            let memo = try slot(at: walk.memoKey(for: keyID), key: keyID, metric: metric, pid: name.pid, keys: keys, pass)
            guard let slot = state.record(memo, key: keyID, file: file.name, keys: keys) else { continue }
            if contributors[Int(slot)] == 0 { dirtyMetrics.insert(metric) }
            contributors[Int(slot)] += 1
        }
        fileStates[file.id] = state
    }

    /// The problem reported for an entry whose bucket bound is not a number.
    static func invalidBoundProblem(file: String, key keyID: KeyTable.ID, keys: KeyTable) -> FileProblem {
        var sample = "", le = ""
        if case .success(let key) = keys.decoded[Int(keyID)] {
            sample = key.sampleName
            le = key.labels.first { $0.name.exactlyEquals("le") }?.value ?? ""
        }
        return FileProblem(file: file, reason: .invalidBucketBound,
                           detail: "bucket of \(sample) has le=\(le.debugDescription), not a number; entry skipped")
    }

    /// The slot for one (metric, key, label tuple), creating it on first use, and whether later
    /// entries with the same key may reuse it.
    ///
    /// A NaN bucket bound is the exception to reuse: Python parses `le` into a new float object
    /// per entry, and NaN objects are distinct dict keys, so every such entry is a bucket of its
    /// own, placed by file order (which only a full build knows).
    private mutating func slotFor<Pass: BuildPass>(metric: Int32, key: SampleKey, labels: [Label],
                                                   _ pass: Pass.Type) throws(Pass.Failure) -> (SlotMemo, reusable: Bool) {
        let info = metrics[Int(metric)]
        if info.type == .histogram, let le = labels.first(where: { $0.name.exactlyEquals("le") }) {
            guard let bound = PythonFloat.parse(le.value) else { return (.invalidBound, true) }
            let withoutLe = labels.filter { !$0.name.exactlyEquals("le") }
            if bound.isNaN {
                try Pass.orderDecides(.nanBucket)
                hasNaNBucket = true
                return (.slot(newSlot(.sum, .bucket(metric: metric, labels: withoutLe, bound: bound))), false)
            }
            // Equal floats share a bucket (1 and 1.0, -0.0 and 0.0).
            let slotKey = BucketSlotKey(metric: metric, labels: withoutLe, bound: bound == 0 ? 0 : bound.bitPattern)
            if let slot = bucketSlots[slotKey] { return (.slot(slot), true) }
            let slot = newSlot(.sum, .bucket(metric: metric, labels: withoutLe, bound: bound))
            bucketSlots[slotKey] = slot
            return (.slot(slot), true)
        }
        let slotKey = SampleSlotKey(metric: metric, sampleName: ExactString(key.sampleName), labels: labels)
        if let slot = sampleSlots[slotKey] { return (.slot(slot), true) }
        let slot = newSlot(info.op, .sample(metric: metric, sampleName: key.sampleName, labels: labels))
        sampleSlots[slotKey] = slot
        return (.slot(slot), true)
    }
}
