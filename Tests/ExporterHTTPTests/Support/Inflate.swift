import CZlib

/// gunzip with zlib, to check the server's gzip bodies round-trip.
enum Inflate {
    struct Failure: Error { var code: Int32 }

    static func gunzip(_ input: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        // 31 = 15-bit window + 16: expect a gzip header, not a zlib one.
        guard inflateInit2_(&stream, 31, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw Failure(code: -1) }
        defer { inflateEnd(&stream) }
        var input = input
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        let status: Int32 = input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            var rc: Int32 = Z_OK
            repeat {
                rc = chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = uInt(target.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                output += chunk[0..<(chunk.count - Int(stream.avail_out))]
            } while rc == Z_OK
            return rc
        }
        guard status == Z_STREAM_END, stream.avail_in == 0 else { throw Failure(code: status) }
        return output
    }
}
