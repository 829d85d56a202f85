import Glibc

// MARK: - What a process uses: CPU, memory, descriptors

/// Why a `/proc` read gave nothing.
public enum ProcReadFailure: Error, Sendable, Equatable {
    /// The process is gone (`ENOENT`, `ESRCH`): it exited, or exits while it is read.
    case gone
    /// This process may not read it (`EACCES`, `EPERM`): another user's process without
    /// `CAP_SYS_PTRACE`, `hidepid=`, or the file's own rules.
    case denied
    /// Anything else (`errno`), or contents the kernel does not write.
    case failed(Int32)

    init(errno code: Int32) {
        switch code {
        case ENOENT, ESRCH: self = .gone
        case EACCES, EPERM: self = .denied
        default: self = .failed(code)
        }
    }
}

extension ProcessTable {
    /// `/proc/<pid>/stat`, parsed. Every user may read it, but some fields are zero for other
    /// users' processes (``ProcessStat/startStack``).
    public func stat(of pid: Int) -> Result<ProcessStat, ProcReadFailure> {
        readSmall("\(root)/\(pid)/stat") { bytes in ProcessStat(parsing: bytes) }
    }

    /// How many file descriptors `pid` has open. Since Linux 6.2 the size of `/proc/<pid>/fd`
    /// is that number, which needs no right to the process; before, the directory is listed,
    /// which needs `ptrace` read access (the process's user, or root).
    public func openDescriptors(of pid: Int) -> Result<Int, ProcReadFailure> {
        openDescriptors(relativeTo: AT_FDCWD, path: "\(root)/\(pid)/fd")
    }

    /// ``openDescriptors(of:)`` for the `fd` directory at `path`, relative to the directory open
    /// as `base` (or `AT_FDCWD`).
    func openDescriptors(relativeTo base: Int32, path: String) -> Result<Int, ProcReadFailure> {
        if probesWithSignal {
            var info = Glibc.stat()
            guard fstatat(base, path, &info, 0) == 0 else { return .failure(ProcReadFailure(errno: errno)) }
            if info.st_size > 0 { return .success(Int(info.st_size)) }
        }
        let fd = openat(base, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0, let directory = fdopendir(fd) else {
            let code = errno
            if fd >= 0 { close(fd) }
            return .failure(ProcReadFailure(errno: code))
        }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return .success(count)
    }

    /// The soft limit on `pid`'s open file descriptors (`RLIMIT_NOFILE`): `prlimit(2)` where
    /// allowed (the caller's own processes, or root), else the `Max open files` line of
    /// `/proc/<pid>/limits`, which every user may read.
    public func maxOpenDescriptors(of pid: Int) -> Result<Double, ProcReadFailure> {
        if probesWithSignal, let prlimit = Self.prlimitFunction {
            var limit = rlimit()
            if prlimit(pid_t(pid), Int32(RLIMIT_NOFILE.rawValue), nil, &limit) == 0 { return .success(Double(limit.rlim_cur)) }
            if errno == ESRCH { return .failure(.gone) }
        }
        // `Max open files            1024                 524288               files`: the soft limit first.
        return readSmall("\(root)/\(pid)/limits", capacity: 4096) { bytes in
            Self.number(in: bytes, after: "Max open files").map { Double($0) }
        }
    }

    /// `Pss:` of `/proc/<pid>/smaps_rollup`, in bytes: the process's share of its resident
    /// pages, each shared page divided among the processes that map it. The kernel walks
    /// every page table of the process to answer (half a millisecond for a small Python
    /// worker, more for a large one), so callers read it rarely. Needs `ptrace` read access.
    public func proportionalSetBytes(of pid: Int) -> Result<UInt64, ProcReadFailure> {
        readSmall("\(root)/\(pid)/smaps_rollup", capacity: 4096) { bytes in
            // `Pss:     1234 kB`; a value no kernel writes (past 2^54 kB) is no value.
            Self.number(in: bytes, after: "Pss:").flatMap { $0 <= UInt64.max / 1024 ? $0 * 1024 : nil }
        }
    }

    /// When the machine booted, in seconds since the epoch (`btime` of `/proc/stat`): process
    /// start times are ticks after it, as the Prometheus clients compute `process_start_time_seconds`.
    public func bootTime() -> Double? {
        try? readSmall("\(root)/stat", capacity: 1 << 16) { bytes -> Double? in
            guard let value = Self.number(in: bytes, after: "btime ") else { return nil }
            return Double(value)
        }.get()
    }

    // MARK: Reading and scanning

    private typealias PrlimitFunction = @convention(c) (pid_t, Int32, UnsafePointer<rlimit>?, UnsafeMutablePointer<rlimit>?) -> Int32
    /// glibc's `prlimit`, which Swift's Glibc module does not declare (`_GNU_SOURCE`).
    private static let prlimitFunction: PrlimitFunction? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "prlimit") else { return nil }
        return unsafeBitCast(symbol, to: PrlimitFunction.self)
    }()

    /// Reads a small `/proc` file whole into a stack buffer and parses it: no allocation for
    /// the bytes, one `open`, `read` until end of file, `close`.
    private func readSmall<T>(_ path: String, capacity: Int = 1024,
                              _ parse: (UnsafeRawBufferPointer) -> T?) -> Result<T, ProcReadFailure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { return .failure(ProcReadFailure(errno: errno)) }
        defer { close(fd) }
        return Self.readWhole(fd, capacity: capacity, from: nil, parse)
    }

    /// Reads the open `/proc` file `fd` to its end into a stack buffer of `capacity` bytes
    /// (from its current offset, or with `pread` from `offset`) and parses what was read.
    static func readWhole<T>(_ fd: Int32, capacity: Int, from offset: Int?,
                             _ parse: (UnsafeRawBufferPointer) -> T?) -> Result<T, ProcReadFailure> {
        withUnsafeTemporaryAllocation(byteCount: capacity, alignment: 8) { buffer -> Result<T, ProcReadFailure> in
            var used = 0
            while used < capacity {
                let n = offset.map { pread(fd, buffer.baseAddress! + used, capacity - used, off_t($0 + used)) }
                    ?? read(fd, buffer.baseAddress! + used, capacity - used)
                if n < 0 {
                    if errno == EINTR { continue }
                    return .failure(ProcReadFailure(errno: errno))
                }
                if n == 0 { break }
                used += n
            }
            guard let value = parse(UnsafeRawBufferPointer(rebasing: buffer[0..<used])) else { return .failure(.failed(EINVAL)) }
            return .success(value)
        }
    }

    /// The unsigned decimal after the first occurrence of `key` at the start of a line.
    static func number(in bytes: UnsafeRawBufferPointer, after key: String) -> UInt64? {
        let key = Array(key.utf8)
        var lineStart = 0
        while lineStart + key.count <= bytes.count {
            if bytes[lineStart..<(lineStart + key.count)].elementsEqual(key) {
                var position = lineStart + key.count
                while position < bytes.count && bytes[position] == UInt8(ascii: " ") { position += 1 }
                var value: UInt64 = 0, digits = 0
                while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") {
                    let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
                    guard !overflow else { return nil }
                    value = times10 &+ UInt64(bytes[position] - UInt8(ascii: "0"))
                    position += 1
                    digits += 1
                }
                return digits > 0 ? value : nil
            }
            guard let newline = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            lineStart = newline + 1
        }
        return nil
    }
}
