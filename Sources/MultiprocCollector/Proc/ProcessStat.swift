// MARK: - /proc/<pid>/stat, parsed from its bytes

/// The fields of `/proc/<pid>/stat` this package uses, parsed from the bytes the kernel
/// writes without building a string per field: a scrape reads this file for every live worker.
///
/// The line is `pid (comm) state ppid …`. `comm` may hold spaces and parentheses, so fields
/// are counted from the last `)`. Times are in clock ticks (`sysconf(_SC_CLK_TCK)`, 100 per
/// second on Linux), as the kernel prints them.
public struct ProcessStat: Sendable, Equatable {
    /// The command name between the parentheses (`comm`: at most 15 bytes, or 63 for kernel threads).
    public var command: String
    /// The one-letter state (field 3): `R`, `S`, `D`, `Z` (zombie: exited, not reaped), `X` (being reaped)...
    public var state: Character
    /// The parent process (field 4).
    public var parent: Int
    /// The kernel's `PF_*` flags (field 9).
    public var flags: UInt64
    /// CPU time in user mode (field 14, `utime`), of every thread of the process.
    public var userTicks: UInt64
    /// CPU time in kernel mode (field 15, `stime`).
    public var systemTicks: UInt64
    /// User time of the children this process waited for, and of theirs (field 16, `cutime`).
    public var childrenUserTicks: UInt64
    /// System time of the children this process waited for, and of theirs (field 17, `cstime`).
    public var childrenSystemTicks: UInt64
    /// Threads in the process (field 20).
    public var threads: Int
    /// When the process started, in ticks after boot (field 22).
    public var startTicks: UInt64
    /// Virtual memory size in bytes (field 23).
    public var virtualBytes: UInt64
    /// Resident set size in pages (field 24).
    public var residentPages: UInt64
    /// Where the stack of the program last `exec`ed starts (field 28, `startstack`): a fork
    /// copies it and every `exec` places a new one (address-space randomization), so a child
    /// forked without `exec` has its parent's. Zero when this process may not read it (another
    /// user's process, `ptrace` rules) or the process has no memory left (a zombie).
    public var startStack: UInt64

    /// The kernel's flag for kernel threads (include/linux/sched.h).
    static let kernelThreadFlag: UInt64 = 0x0020_0000

    /// A kernel thread, which never writes metric files.
    public var isKernelThread: Bool { flags & Self.kernelThreadFlag != 0 }

    /// Exited: a zombie waiting to be reaped (`Z`), or being reaped right now (`X`).
    public var hasExited: Bool { state == "Z" || state == "X" }

    /// Parses the bytes of `/proc/<pid>/stat`; nil when they are not what the kernel writes.
    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")),
              let open = bytes[..<close].firstIndex(of: UInt8(ascii: "(")) else { return nil }
        command = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        // Field n (n >= 3) is the (n - 3)th after the ')'; 28 is the last one read.
        var fields = [UInt64](repeating: 0, count: 26)
        var field = -1, position = close + 1, stateByte: UInt8 = 0
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            if byte == UInt8(ascii: " ") {
                field += 1
                if field == fields.count { break }
                continue
            }
            guard field >= 0, byte != UInt8(ascii: "\n") else { break }
            if field == 0 {
                stateByte = byte
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                let (times10, overflow) = fields[field].multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                fields[field] = times10 &+ UInt64(byte - UInt8(ascii: "0"))
            } else if byte != UInt8(ascii: "-") {  // negative fields (tty, nice) are never read
                return nil
            }
        }
        guard field >= 19, stateByte != 0 else { return nil }
        state = Character(Unicode.Scalar(stateByte))
        parent = Int(truncatingIfNeeded: fields[1])
        flags = fields[6]
        userTicks = fields[11]
        systemTicks = fields[12]
        childrenUserTicks = fields[13]
        childrenSystemTicks = fields[14]
        threads = Int(truncatingIfNeeded: fields[17])
        startTicks = fields[19]
        virtualBytes = fields[20]
        residentPages = fields[21]
        startStack = fields[25]
    }

    /// Parses text (tests, and the string a ``ProcessRecord`` is made from).
    public init?(parsing text: String) {
        var copy = text
        guard let parsed = copy.withUTF8({ Self(parsing: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = parsed
    }
}
