import MultiprocCollector

/// The app's process metrics (`multiproc_worker_*`, `multiproc_workers*`, `multiproc_parent_*`,
/// `multiproc_parents*`) from a ``WorkerReport``: the metric table of README's "Workers' CPU
/// and memory". Per-process families carry a `pid` label and have no series while no such
/// process lives; the totals are always there once the app is visible.
enum WorkerFamilies {
    /// The families of `report`, sorted by name; none while the app is not visible.
    static func families(_ report: WorkerReport) -> [MetricFamily] {
        guard report.visible == true else { return [] }
        var families = perProcess(report.workers, prefix: "multiproc_worker_", role: "worker")
            + perProcess(report.parents, prefix: "multiproc_parent_", role: "parent of workers")
        func gauge(_ name: String, _ help: String, _ value: Int) {
            families.append(MetricFamily(name: name, type: .gauge, help: help, samples: [Sample(name: name, labels: [], value: Double(value))]))
        }
        func counter(_ name: String, _ help: String, _ value: Int) {
            families.append(MetricFamily(name: name, type: .counter, help: help,
                                         samples: [Sample(name: name + "_total", labels: [], value: Double(value))]))
        }
        func cpu(_ name: String, _ help: String, _ time: CPUTime) {
            families.append(MetricFamily(name: name, type: .counter, help: help, samples: modes(name + "_total", time, labels: [])))
        }
        gauge("multiproc_workers", "Live workers: processes that write the metric directory.", report.workers.count)
        cpu("multiproc_workers_cpu_seconds",
            "CPU time of every worker that ever ran, live and exited, by mode: the parents' reaped children plus the live workers'.",
            report.workersCPU)
        counter("multiproc_worker_exits", "Workers seen to exit since the exporter started.", report.workerExits)
        gauge("multiproc_parents", "Live parents of workers (the processes that forked them).", report.parents.count)
        cpu("multiproc_parents_cpu_seconds", "Own CPU time of every parent of workers that ever ran, live and exited, by mode.",
            report.parentsCPU)
        counter("multiproc_parent_exits", "Parents of workers seen to exit since the exporter started.", report.parentExits)
        return families.sorted { $0.name < $1.name }
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

    /// One family per measure, one series per process (`pid`), none for a measure no process has.
    private static func perProcess(_ processes: [ObservedProcess], prefix: String, role: String) -> [MetricFamily] {
        guard !processes.isEmpty else { return [] }
        let labels = processes.map { [Label(name: "pid", value: String($0.pid))] }
        var families = [MetricFamily(
            name: prefix + "cpu_seconds", type: .counter, help: "CPU time of each live \(role), by mode.",
            samples: zip(processes, labels).flatMap { process, pid in modes(prefix + "cpu_seconds_total", process.cpu, labels: pid) })]
        func gauge(_ name: String, _ help: String, _ value: (ObservedProcess) -> Double?) {
            let samples = zip(processes, labels).compactMap { process, pid in
                value(process).map { Sample(name: prefix + name, labels: pid, value: $0) }
            }
            if !samples.isEmpty { families.append(MetricFamily(name: prefix + name, type: .gauge, help: help, samples: samples)) }
        }
        gauge("resident_memory_bytes", "Resident memory of each live \(role), bytes (shared pages counted in every process that maps them).",
              \.residentBytes)
        gauge("proportional_memory_bytes",
              "Proportional set size of each live \(role), bytes: shared pages divided among the processes that map them (smaps_rollup Pss; read every --collector.workers.pss-interval).",
              \.proportionalBytes)
        gauge("virtual_memory_bytes", "Virtual memory size of each live \(role), bytes.", \.virtualBytes)
        gauge("open_fds", "Open file descriptors of each live \(role).", \.openDescriptors)
        gauge("max_fds", "Maximum open file descriptors of each live \(role) (soft limit).", \.maxDescriptors)
        gauge("threads", "Threads of each live \(role).", \.threads)
        gauge("start_time_seconds", "Start time of each live \(role) since unix epoch, seconds.", \.startTime)
        return families
    }

    /// `mode="system"` and `mode="user"` samples (labels sorted by name: `mode` before `pid`).
    private static func modes(_ name: String, _ time: CPUTime, labels: [Label]) -> [Sample] {
        [("system", time.system), ("user", time.user)].map { mode, value in
            Sample(name: name, labels: [Label(name: "mode", value: mode)] + labels, value: value)
        }
    }
}
