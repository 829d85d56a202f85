import Glibc
import MultiprocSupport
import MultiprocCollector

/// `process_*` metrics read from `/proc/self`, with the names and help texts of
/// client_golang's process collector. Empty where there is no `/proc`.
enum ProcessMetrics {
    static func families() -> [MetricFamily] {
        var families: [MetricFamily] = []
        func gauge(_ name: String, _ help: String, _ value: Double) {
            families.append(MetricFamily(name: name, type: .gauge, help: help, samples: [Sample(name: name, labels: [], value: value)]))
        }
        let stat = readStat()
        if let stat {
            families.append(MetricFamily(
                name: "process_cpu_seconds", type: .counter, help: "Total user and system CPU time spent in seconds.",
                samples: [Sample(name: "process_cpu_seconds_total", labels: [], value: stat.cpuSeconds)]))
        }
        if let fds = openDescriptors() { gauge("process_open_fds", "Number of open file descriptors.", fds) }
        if let limit = limit(openFilesResource) { gauge("process_max_fds", "Maximum number of open file descriptors.", limit) }
        if let stat {
            gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", stat.virtualBytes)
        }
        if let limit = limit(addressSpaceResource) {
            gauge("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", limit)
        }
        if let stat {
            gauge("process_resident_memory_bytes", "Resident memory size in bytes.", stat.residentBytes)
            if let boot = bootTime() {
                gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                      boot + stat.startTicks / ticksPerSecond)
            }
        }
        return families
    }

    struct Stat {
        var cpuSeconds: Double
        var startTicks: Double
        var virtualBytes: Double
        var residentBytes: Double
    }

    private static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    private static let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))

    /// `/proc/self/stat`: fields after the `(comm)`, which may itself hold spaces and parentheses.
    static func readStat() -> Stat? {
        guard let text = FileContents.text("/proc/self/stat"), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): utime = 14, stime = 15, starttime = 22, vsize = 23, rss = 24.
        guard fields.count > 21, let utime = Double(fields[11]), let stime = Double(fields[12]),
              let start = Double(fields[19]), let vsize = Double(fields[20]), let rss = Double(fields[21]) else { return nil }
        return Stat(cpuSeconds: (utime + stime) / ticksPerSecond, startTicks: start, virtualBytes: vsize, residentBytes: rss * pageSize)
    }

    /// `btime` of `/proc/stat`: boot time in seconds since the epoch.
    static func bootTime() -> Double? {
        guard let text = FileContents.text("/proc/stat") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingPrefix(" "))
        }
        return nil
    }

    /// Entries of `/proc/self/fd` (counting the descriptor used to list it, as client_golang does).
    static func openDescriptors() -> Double? {
        guard let dir = opendir("/proc/self/fd") else { return nil }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return Double(count)
    }

    /// The soft limit; `RLIM_INFINITY` is reported as its numeric value, like client_golang.
    static func limit(_ resource: ResourceKind) -> Double? {
        var value = rlimit()
        guard getrlimit(resource, &value) == 0 else { return nil }
        return Double(value.rlim_cur)
    }

    typealias ResourceKind = __rlimit_resource_t
    static let openFilesResource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    static let addressSpaceResource = __rlimit_resource_t(RLIMIT_AS.rawValue)
}
