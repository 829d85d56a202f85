import Glibc

/// The address of a connected client (or of a bound socket), read from a `sockaddr`.
public struct PeerAddress: Sendable, Hashable, CustomStringConvertible {
    /// Numeric host (`127.0.0.1`, `::1`, `::ffff:10.0.0.1`).
    public var host: String
    /// TCP port.
    public var port: Int
    /// Whether the address is loopback: `127.0.0.0/8`, `::1`, or `::ffff:127.0.0.0/104`.
    public var isLoopback: Bool

    /// An address with the given parts (tests use this to fake peers).
    public init(host: String, port: Int, isLoopback: Bool) {
        self.host = host
        self.port = port
        self.isLoopback = isLoopback
    }

    /// `host:port`, with IPv6 hosts in brackets.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Reads an `AF_INET` or `AF_INET6` address; nil for any other family.
    init?(_ address: UnsafePointer<sockaddr>) {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            let sin = UnsafeRawPointer(address).load(as: sockaddr_in.self)
            var addr = sin.sin_addr
            // s_addr is in network byte order: the first octet is the lowest-addressed byte.
            let firstOctet = withUnsafeBytes(of: &addr) { $0[0] }
            guard let host = Self.numericHost(AF_INET, &addr) else { return nil }
            self.init(host: host, port: Int(UInt16(bigEndian: sin.sin_port)), isLoopback: firstOctet == 127)
        case AF_INET6:
            let sin6 = UnsafeRawPointer(address).load(as: sockaddr_in6.self)
            var addr = sin6.sin6_addr
            let bytes = withUnsafeBytes(of: &addr) { Array($0) }
            let loopback6 = bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1
            let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
            guard let host = Self.numericHost(AF_INET6, &addr) else { return nil }
            self.init(host: host, port: Int(UInt16(bigEndian: sin6.sin6_port)),
                      isLoopback: loopback6 || (mapped && bytes[12] == 127))
        default:
            return nil
        }
    }

    private static func numericHost<A>(_ family: Int32, _ addr: inout A) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let ok = withUnsafePointer(to: &addr) { inet_ntop(family, $0, &buffer, socklen_t(buffer.count)) } != nil
        guard ok else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The local address a socket is bound to (`getsockname`).
    static func local(of fd: Int32) -> PeerAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return nil }
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { PeerAddress($0) }
        }
    }
}
