import Glibc
import MultiprocSupport

extension ProcessTable {
    /// Which pid namespace this table's pids belong to, and in which boot of the machine:
    /// `boot=<boot_id> pidns=pid:[<inode>]`. What is seen through the table can be kept for
    /// another process only where this matches: the same numbers name the same processes
    /// nowhere else (a pid namespace's inode is unique while it lives; the boot id changes at
    /// every boot).
    ///
    /// Nil when it cannot be said: the boot id or `self/ns/pid` unreadable, or this process not
    /// in the namespace of the `/proc` it reads (`NSpid:` of `self` lists more than one pid, as
    /// after `unshare --pid` without a `/proc` of its own): then `self/ns/pid` names another
    /// namespace than the table's pids.
    public func namespaceIdentity() -> String? {
        guard let boot = FileContents.text("\(root)/sys/kernel/random/boot_id", limit: 128)?
            .split(whereSeparator: \.isWhitespace).first, !boot.isEmpty,
              let status = FileContents.text("\(root)/self/status", limit: 64 << 10),
              let nspid = status.split(separator: "\n").first(where: { $0.hasPrefix("NSpid:") }),
              nspid.split(whereSeparator: { $0 == "\t" || $0 == " " }).count == 2 else { return nil }
        var link = [CChar](repeating: 0, count: 64)
        let n = readlink("\(root)/self/ns/pid", &link, link.count - 1)
        guard n > 0 else { return nil }
        let namespace = String(decoding: link[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard namespace.hasPrefix("pid:["), !namespace.contains(where: \.isWhitespace) else { return nil }
        return "boot=\(boot) pidns=\(namespace)"
    }
}
