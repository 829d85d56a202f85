import CLibevent

// MARK: - Entry point for the libFuzzer request target (FOR FUZZING ONLY)
//
// `package` access: visible to the fuzz targets of this package (`Fuzz/`, built only by
// `make fuzz` with MULTIPROC_FUZZ=1), invisible to users of the library. Traps when an
// invariant breaks, which libFuzzer records as a crash. Nothing here is used by the server.

/// Fuzzing entry points for `ExporterHTTP`. Not API: for `Fuzz/` only.
package enum HTTPFuzzing {

    /// The parts of a request the exporter reads itself, from arbitrary bytes:
    /// - the request target through libevent's URI parser (as `evhttp` parses a request line),
    ///   then the `/mark-dead/<pid>` split and ``PidParser``: a pid is accepted only when the
    ///   path is exactly `/mark-dead/` followed by its canonical decimal form, in 1…4194304;
    /// - the same bytes as an `Authorization` header (bearer credentials, constant-time compare)
    ///   and as an `Accept-Encoding` header.
    package static func request(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)

        // 1. The pid parser on its own, over any text.
        check(pidText: Substring(text), path: ExporterRoutes.markDeadPrefix + text)

        // 2. The request target as libevent hands it to RequestReader (NUL ends a C string).
        let target = Array(data.prefix { $0 != 0 }) + [0]
        let parsed = target.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { evhttp_uri_parse_with_flags($0.baseAddress, UInt32(EVHTTP_URI_NONCONFORMANT)) }
        }
        if let parsed {
            defer { evhttp_uri_free(parsed) }
            if let raw = evhttp_uri_get_path(parsed) {
                let path = String(cString: raw)
                if path.hasPrefix(ExporterRoutes.markDeadPrefix) {
                    check(pidText: path.dropFirst(ExporterRoutes.markDeadPrefix.count), path: path)
                }
            }
        }

        // 3. Header parsers.
        let credentials = AdminAccess.bearerCredentials(text)
        if let credentials {
            guard !credentials.isEmpty, credentials.first != " ", credentials.last != " " else {
                fatalError("credentials not trimmed: \(credentials.debugDescription)")
            }
            if let token = try? AdminToken(fileContents: Array(credentials.utf8)) {
                let secret = token.bytes
                guard token.matches(secret), !token.matches(secret + [0x41]), !token.matches(secret.dropLast()),
                      !token.matches(secret.dropLast() + [secret.last! ^ 1]) else {
                    fatalError("token compare is wrong for \(credentials.debugDescription)")
                }
            }
        }
        _ = AcceptEncoding.allowsGzip(text)
    }

    private static let knownMessages: Set<String> = Set(["", "x", "12345678", "01", "0"].compactMap {
        if case .failure(let error) = PidParser.parse(Substring($0)) { return error.message }
        return nil
    })

    private static func check(pidText: Substring, path: String) {
        switch PidParser.parse(pidText) {
        case .success(let pid):
            guard (1...PidParser.maximum).contains(pid), ExporterRoutes.markDeadPrefix + String(pid) == path else {
                fatalError("accepted pid \(pid) from path \(path.debugDescription)")
            }
        case .failure(let error):
            // The message never echoes the input: it is one of a fixed few.
            guard knownMessages.contains(error.message) else { fatalError("unexpected error message: \(error.message)") }
        }
    }
}
