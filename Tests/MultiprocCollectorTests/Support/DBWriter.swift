import Foundation
@testable import MultiprocCollector

/// Writes metric files in prometheus_client's mmap layout, the way `MmapedDict` does: a
/// 64 KiB file that doubles when full (`ftruncate`, then a new mapping), entries appended
/// before `used` is bumped, values updated in place — all through a shared mapping, so, as
/// with the real writer, only creation and growth are system calls on the file. Used to
/// drive the cache through the changes a live writer makes.
final class DBWriter {
    let path: String
    private(set) var used = 8
    private(set) var capacity = 1 << 16
    private(set) var positions: [String: Int] = [:]
    private var map: UnsafeMutableRawPointer?
    /// Bytes mapped at `map` (the capacity when it was mapped).
    private var mappedLength = 0
    /// How entries are laid out: today's by default, or an older release's (no timestamp
    /// for 8-byte layouts; keys are whatever the caller passes).
    let layout: FileLayout

    /// Creates the file, or empties an existing one in place (same inode: a writer that
    /// opened it with `O_TRUNC`, or a new worker reusing a dead worker's pid).
    init(path: String, initialCapacity: Int = 1 << 16, layout: FileLayout = .k4v16) {
        self.path = path
        self.layout = layout
        capacity = initialCapacity
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        ftruncate(fd, 0)
        ftruncate(fd, off_t(capacity))
        close(fd)
        remap()
        writeUsed()
    }

    deinit { unmap() }

    /// The JSON key prometheus_client writes: `json.dumps([metric, sample, labels, help], sort_keys=True)`.
    static func key(metric: String, sample: String, labels: [String: String] = [:], help: String = "help",
                    shape: KeyShape = .labelsAndHelp) -> String {
        PythonKeys.encode(metric: metric, sample: sample, labels: labels.map { ($0.key, $0.value) }, help: help, shape: shape)
    }

    /// Sets a value (and timestamp), appending the entry first if the key is new.
    func set(_ key: String, _ value: Double, timestamp: Double = 0) {
        if positions[key] == nil { append(key) }
        withUnsafeBytes(of: (value, timestamp)) { store(UnsafeRawBufferPointer(rebasing: $0[0..<layout.valueWidth]), at: positions[key]!) }
    }

    /// Appends raw bytes to the entry area without validation (for corrupt-file tests).
    func appendRaw(_ bytes: [UInt8], bumpUsedBy: Int? = nil) {
        bytes.withUnsafeBytes { store($0, at: used) }
        used += bumpUsedBy ?? bytes.count
        writeUsed()
    }

    /// Overwrites the `used` header.
    func forceUsed(_ value: Int32) {
        store(value.littleEndian, at: 0)
    }

    private func append(_ key: String) {
        let encoded = Array(key.utf8)
        let padding = 8 - (encoded.count + 4) % 8
        var entry: [UInt8] = []
        withUnsafeBytes(of: Int32(encoded.count).littleEndian) { entry.append(contentsOf: $0) }
        entry += encoded + Array(repeating: UInt8(ascii: " "), count: padding)
        entry += Array(repeating: 0, count: layout.valueWidth)
        if used + entry.count > capacity {
            while used + entry.count > capacity { capacity *= 2 }
            let fd = open(path, O_RDWR)
            ftruncate(fd, off_t(capacity))
            close(fd)
            remap()
        }
        entry.withUnsafeBytes { store($0, at: used) }
        used += entry.count
        writeUsed()
        positions[key] = used - layout.valueWidth
    }

    private func writeUsed() {
        forceUsed(Int32(used))
    }

    private func store<T>(_ value: T, at offset: Int) {
        withUnsafeBytes(of: value) { store($0, at: offset) }
    }

    private func store(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard let map, offset + bytes.count <= mappedLength else { return }
        (map + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
    }

    private func remap() {
        unmap()
        let fd = open(path, O_RDWR)
        defer { close(fd) }
        let raw = mmap(nil, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        map = raw == MAP_FAILED ? nil : raw
        mappedLength = map == nil ? 0 : capacity
    }

    private func unmap() {
        if let map { munmap(map, mappedLength) }
        map = nil
        mappedLength = 0
    }
}

extension Snapshot {
    /// Prometheus text 0.0.4 body as a string.
    var text: String { String(decoding: body(.prometheusText004), as: UTF8.self) }
}
