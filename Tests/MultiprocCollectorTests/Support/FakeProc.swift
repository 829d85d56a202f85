import Foundation
import TestSupport
@testable import MultiprocCollector

/// A directory laid out like `/proc` for ``ProcessTable``: `<pid>/stat`, `<pid>/status`,
/// `<pid>/maps` and `self`. Start times are given in boot-clock seconds.
final class FakeProc {
    let directory = TemporaryDirectory()
    var root: String { directory.path }
    let ticks: Double

    /// A tree whose `self` is `selfPid` (this exporter in the fake namespace).
    let selfPid: Int

    init(selfPid: Int = 1) {
        self.selfPid = selfPid
        ticks = ProcessTable(root: "/nonexistent").ticksPerSecond
        add(pid: selfPid, start: 0, uid: 0)
        try! FileManager.default.createSymbolicLink(atPath: "\(root)/self", withDestinationPath: "\(selfPid)")
    }

    /// Adds (or replaces) a process. `maps` are `(file, writable)` pairs of files it maps.
    /// `cpu` is (utime, stime, cutime, cstime) in ticks; `startStack` is `stat`'s field 28
    /// (a fork keeps its parent's, 0 when unreadable); `command` the name in parentheses.
    func add(pid: Int, start: Double, uid: UInt32 = 1000, state: Character = "S", parent: Int = 1, threads: Int = 1,
             kernelThread: Bool = false, threadGroup: Int? = nil, namespacePids: [Int]? = nil,
             maps: [(file: String, writable: Bool)]? = [], mapsReadable: Bool = true,
             cpu: (UInt64, UInt64, UInt64, UInt64) = (5, 3, 0, 0), startStack: UInt64 = 0, command: String = "py (worker)",
             fds: Int = 3, maxFds: Int = 1024, pssKilobytes: UInt64? = nil) {
        let dir = "\(root)/\(pid)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let flags = kernelThread ? 0x0020_8040 : 0x0040_0100
        // Fields 3...28 and a few after, as the kernel writes them; comm holds a space and a ')'.
        let statLine = "\(pid) (\(command)) \(state) \(parent) \(pid) \(pid) 0 -1 \(flags) 10 0 0 0 \(cpu.0) \(cpu.1) \(cpu.2) \(cpu.3) 20 0 \(threads) 0 "
            + "\(UInt64(start * ticks)) 1000 200 18446744073709551615 1 1 \(startStack) 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
        try! statLine.write(toFile: "\(dir)/stat", atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: "\(dir)/fd")
        try! FileManager.default.createDirectory(atPath: "\(dir)/fd", withIntermediateDirectories: true)
        for fd in 0..<fds { _ = FileManager.default.createFile(atPath: "\(dir)/fd/\(fd)", contents: nil) }
        try! "Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            \(maxFds)                 524288               files     \n"
            .write(toFile: "\(dir)/limits", atomically: true, encoding: .utf8)
        if let pssKilobytes {
            try! "55d0c0000000-7ffd00021000 ---p 00000000 00:00 0                          [rollup]\nRss:               30000 kB\nPss:               \(pssKilobytes) kB\nPss_Anon:           9000 kB\n"
                .write(toFile: "\(dir)/smaps_rollup", atomically: true, encoding: .utf8)
        }
        let nspid = (namespacePids ?? [pid]).map(String.init).joined(separator: "\t")
        let status = "Name:\tpython3\nState:\t\(state)\nTgid:\t\(threadGroup ?? pid)\nPid:\t\(pid)\nPPid:\t\(parent)\nUid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)\nNSpid:\t\(nspid)\n"
        try! status.write(toFile: "\(dir)/status", atomically: true, encoding: .utf8)
        let mapsPath = "\(dir)/maps"
        try? FileManager.default.removeItem(atPath: mapsPath)
        guard mapsReadable, let maps else { return }
        var lines = "55d0c0000000-55d0c0001000 r-xp 00000000 fe:01 1234 /usr/bin/python3.11\n"
        for (file, writable) in maps {
            let info = try! FileManager.default.attributesOfItem(atPath: file)
            let inode = (info[.systemFileNumber] as! NSNumber).uint64Value
            var st = stat()
            lstat(file, &st)
            let id = DeviceInode(device: UInt64(st.st_dev), inode: inode)
            lines += "7f0000000000-7f0000010000 \(writable ? "rw-s" : "r--s") 00000000 \(String(format: "%02x:%02x", id.major, id.minor)) \(inode)    \(file)\n"
        }
        lines += "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n"
        try! lines.write(toFile: mapsPath, atomically: true, encoding: .utf8)
    }

    /// Makes the tree name its pid namespace and boot (``ProcessTable/namespaceIdentity()``),
    /// so that a finder keeps its sightings in the metric directory.
    func name(namespace: Int, boot: String = "5b0c9f1e-6a51-4b7e-9a57-0d1f2c3e4f50") {
        let random = "\(root)/sys/kernel/random"
        try! FileManager.default.createDirectory(atPath: random, withIntermediateDirectories: true)
        try! "\(boot)\n".write(toFile: "\(random)/boot_id", atomically: true, encoding: .utf8)
        let ns = "\(root)/\(selfPid)/ns"
        try? FileManager.default.removeItem(atPath: ns)
        try! FileManager.default.createDirectory(atPath: ns, withIntermediateDirectories: true)
        try! FileManager.default.createSymbolicLink(atPath: "\(ns)/pid", withDestinationPath: "pid:[\(namespace)]")
    }

    func remove(pid: Int) {
        try? FileManager.default.removeItem(atPath: "\(root)/\(pid)")
    }

    var table: ProcessTable { ProcessTable(root: root) }
}

/// Metric files for a pid, created now (the writer layout does not matter to the finder).
func writeMetricFiles(_ directory: TemporaryDirectory, pid: Int, names: [String] = ["counter", "gauge_livesum"]) -> [String] {
    names.map { prefix in
        let path = directory.file("\(prefix)_\(pid).db")
        _ = FileManager.default.createFile(atPath: path, contents: Data(count: 4096))
        return path
    }
}

/// Seconds after boot now.
func bootNow() -> Double { BootClock.system.bootNow() }
