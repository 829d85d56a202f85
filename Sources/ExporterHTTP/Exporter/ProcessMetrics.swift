import Glibc
import MultiprocCollector

/// `process_*` metrics of this exporter, with the names and help texts of client_golang's
/// process collector, read with the same `/proc` readers as the app's workers
/// (``ProcessTable``). Empty where there is no `/proc`.
enum ProcessMetrics {
    private static let processes = ProcessTable()
    private static let bootTime = processes.bootTime()

    static func families() -> [MetricFamily] {
        var families: [MetricFamily] = []
        func gauge(_ name: String, _ help: String, _ value: Double) {
            families.append(MetricFamily(name: name, type: .gauge, help: help, samples: [Sample(name: name, labels: [], value: value)]))
        }
        let me = Int(getpid())
        let stat = try? processes.stat(of: me).get()
        if let stat {
            families.append(MetricFamily(
                name: "process_cpu_seconds", type: .counter, help: "Total user and system CPU time spent in seconds.",
                samples: [Sample(name: "process_cpu_seconds_total", labels: [],
                                 value: Double(stat.userTicks + stat.systemTicks) / processes.ticksPerSecond)]))
        }
        // As the kernel counts them (Linux 6.2 and later), else listed, the listing's own included as client_golang counts.
        if let fds = try? processes.openDescriptors(of: me).get() { gauge("process_open_fds", "Number of open file descriptors.", Double(fds)) }
        if let limit = limit(RLIMIT_NOFILE) { gauge("process_max_fds", "Maximum number of open file descriptors.", limit) }
        if let stat {
            gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", Double(stat.virtualBytes))
        }
        if let limit = limit(RLIMIT_AS) {
            gauge("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", limit)
        }
        if let stat {
            gauge("process_resident_memory_bytes", "Resident memory size in bytes.", Double(stat.residentPages) * processes.pageSize)
            if let bootTime {
                gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                      bootTime + Double(stat.startTicks) / processes.ticksPerSecond)
            }
        }
        return families
    }

    /// The soft limit; `RLIM_INFINITY` is reported as its numeric value, like client_golang.
    private static func limit(_ resource: __rlimit_resource) -> Double? {
        var value = rlimit()
        guard getrlimit(__rlimit_resource_t(resource.rawValue), &value) == 0 else { return nil }
        return Double(value.rlim_cur)
    }
}
