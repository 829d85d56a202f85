import MultiprocCollector

/// The app's process metrics (`multiproc_worker_*`, `multiproc_workers*`, `multiproc_parent_*`,
/// `multiproc_parents*`) from a ``WorkerReport``: the metric table of README's "Workers' CPU
/// and memory", written once. Per-process families carry a `pid` label and have no series
/// while no such process lives; the totals are always there once the app is visible.
///
/// A report becomes ``Line``s (``lines(_:)``): what ``WorkerExposition`` renders on every
/// scrape from prefixes it keeps, and what ``families(_:)`` turns into plain families (the
/// names textfiles must leave alone, tests).
enum WorkerFamilies {
    /// Whose processes a per-process family describes.
    enum Role { case worker, parent }

    /// What a family measures.
    enum Measure {
        case cpu, resident, proportional, virtual, openDescriptors, maxDescriptors, threads, startTime
        case live, cpuTotal, exits
    }

    /// One family this collector can serve.
    struct Family {
        let name: String
        let type: MetricType
        let help: String
        /// Per process of this role (`pid` label), or nil: one total.
        let role: Role?
        let measure: Measure
        /// The sample name of its lines (counters end in `_total`).
        var sampleName: String { type == .counter ? name + "_total" : name }
    }

    /// The `mode` label of CPU lines, in label-value order.
    enum Mode: Int, CaseIterable {
        case system, user
        var label: String { self == .system ? "system" : "user" }
    }

    /// One line of a report: its family (an index into ``table``), process (0 for a total) and mode.
    struct Line {
        let family: Int
        let pid: Int
        let mode: Mode?
        let value: Double
    }

    /// Every family, sorted by name (the order they are served in).
    static let table: [Family] = {
        var table: [Family] = []
        for (role, prefix, who) in [(Role.worker, "multiproc_worker_", "worker"), (.parent, "multiproc_parent_", "parent of workers")] {
            table += [
                Family(name: prefix + "cpu_seconds", type: .counter, help: "CPU time of each live \(who), by mode.", role: role, measure: .cpu),
                Family(name: prefix + "resident_memory_bytes", type: .gauge,
                       help: "Resident memory of each live \(who), bytes (shared pages counted in every process that maps them).",
                       role: role, measure: .resident),
                Family(name: prefix + "proportional_memory_bytes", type: .gauge,
                       help: "Proportional set size of each live \(who), bytes: shared pages divided among the processes that map them (smaps_rollup Pss; read every --collector.workers.pss-interval).",
                       role: role, measure: .proportional),
                Family(name: prefix + "virtual_memory_bytes", type: .gauge, help: "Virtual memory size of each live \(who), bytes.",
                       role: role, measure: .virtual),
                Family(name: prefix + "open_fds", type: .gauge, help: "Open file descriptors of each live \(who).", role: role,
                       measure: .openDescriptors),
                Family(name: prefix + "max_fds", type: .gauge, help: "Maximum open file descriptors of each live \(who) (soft limit).",
                       role: role, measure: .maxDescriptors),
                Family(name: prefix + "threads", type: .gauge, help: "Threads of each live \(who).", role: role, measure: .threads),
                Family(name: prefix + "start_time_seconds", type: .gauge, help: "Start time of each live \(who) since unix epoch, seconds.",
                       role: role, measure: .startTime),
            ]
        }
        table += [
            Family(name: "multiproc_workers", type: .gauge, help: "Live workers: processes that write the metric directory.",
                   role: nil, measure: .live),
            Family(name: "multiproc_workers_cpu_seconds", type: .counter,
                   help: "CPU time of every worker that ever ran, live and exited, by mode: the parents' reaped children plus the live workers'.",
                   role: nil, measure: .cpuTotal),
            Family(name: "multiproc_worker_exits", type: .counter, help: "Workers seen to exit since the exporter started.",
                   role: nil, measure: .exits),
            Family(name: "multiproc_parents", type: .gauge, help: "Live parents of workers (the processes that forked them).",
                   role: nil, measure: .live),
            Family(name: "multiproc_parents_cpu_seconds", type: .counter,
                   help: "Own CPU time of every parent of workers that ever ran, live and exited, by mode.", role: nil, measure: .cpuTotal),
            Family(name: "multiproc_parent_exits", type: .counter, help: "Parents of workers seen to exit since the exporter started.",
                   role: nil, measure: .exits),
        ]
        return table.sorted { $0.name < $1.name }
    }()

    /// The lines of `report`, family by family in ``table`` order, processes by pid, `system`
    /// before `user`; none while the app is not visible.
    static func lines(_ report: WorkerReport) -> [Line] {
        guard report.visible == true else { return [] }
        var lines: [Line] = []
        lines.reserveCapacity(table.count + 10 * (report.workers.count + report.parents.count))
        for (index, family) in table.enumerated() {
            func add(_ pid: Int, _ mode: Mode?, _ value: Double?) {
                if let value { lines.append(Line(family: index, pid: pid, mode: mode, value: value)) }
            }
            guard let role = family.role else {
                let workers = family.name.hasPrefix("multiproc_worker")
                switch family.measure {
                case .live: add(0, nil, Double(workers ? report.workers.count : report.parents.count))
                case .cpuTotal:
                    let time = workers ? report.workersCPU : report.parentsCPU
                    add(0, .system, time.system)
                    add(0, .user, time.user)
                default: add(0, nil, Double(workers ? report.workerExits : report.parentExits))
                }
                continue
            }
            for process in role == .worker ? report.workers : report.parents {
                switch family.measure {
                case .cpu:
                    add(process.pid, .system, process.cpu.system)
                    add(process.pid, .user, process.cpu.user)
                case .resident: add(process.pid, nil, process.residentBytes)
                case .proportional: add(process.pid, nil, process.proportionalBytes)
                case .virtual: add(process.pid, nil, process.virtualBytes)
                case .openDescriptors: add(process.pid, nil, process.openDescriptors)
                case .maxDescriptors: add(process.pid, nil, process.maxDescriptors)
                case .threads: add(process.pid, nil, process.threads)
                default: add(process.pid, nil, process.startTime)
                }
            }
        }
        return lines
    }

    /// The labels of a line, sorted by name (`mode` before `pid`).
    static func labels(of line: Line) -> [Label] {
        var labels: [Label] = []
        if let mode = line.mode { labels.append(Label(name: "mode", value: mode.label)) }
        if table[line.family].role != nil { labels.append(Label(name: "pid", value: String(line.pid))) }
        return labels
    }

    /// The families of `report` as plain values, sorted by name; a family without lines is left out.
    static func families(_ report: WorkerReport) -> [MetricFamily] {
        var families: [MetricFamily] = []
        for line in lines(report) {
            let family = table[line.family]
            if families.last?.name != family.name {
                families.append(MetricFamily(name: family.name, type: family.type, help: family.help, samples: []))
            }
            families[families.count - 1].samples.append(Sample(name: family.sampleName, labels: labels(of: line), value: line.value))
        }
        return families
    }

    /// Every family this collector can serve, with a sample each (the names textfiles must
    /// leave to it: ``ExporterServer/ownMetricNames(_:)``).
    static let all: [MetricFamily] = {
        let process = ObservedProcess(pid: 1, cpu: CPUTime(), residentBytes: 0, proportionalBytes: 0, virtualBytes: 0,
                                      openDescriptors: 0, maxDescriptors: 0, threads: 0, startTime: 0)
        var report = WorkerReport()
        report.visible = true
        report.workers = [process]
        report.parents = [process]
        return families(report)
    }()
}
