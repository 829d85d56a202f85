// MARK: - Entry points for the web config and Authorization fuzz targets (FOR FUZZING ONLY)
//
// `package` access, as in Fuzzing.swift: reached by `Fuzz/WebConfig` and `Fuzz/BasicAuth`
// (built only by `make fuzz`), invisible to users of the library. Traps when an invariant
// breaks, which libFuzzer records as a crash.

/// Fuzzing entry points for `--web.config.file` parsing and `Authorization: Basic`. Not API.
package enum WebConfigFuzzing {

    /// Arbitrary bytes as a web config file: either a ``WebConfig`` that keeps its invariants
    /// (paths resolved, names known, hashes well-formed, the same result when parsed again) or
    /// exactly one line of error starting with `web config: `. Never a crash.
    package static func webConfig(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        let config: WebConfig
        do {
            config = try WebConfigParser.parse(text, directory: "/fuzz")
        } catch {
            // Bytes and scalars, not Characters: a key may start with a combining mark, which
            // joins the prefix's last space into one Character (an early harness false alarm).
            let message = error.description
            guard message.utf8.starts(with: "web config: ".utf8),
                  !message.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" }) else {
                fatalError("error is not one line naming the problem: \(message.debugDescription)")
            }
            return
        }
        guard (try? WebConfigParser.parse(text, directory: "/fuzz")) == config else { fatalError("parse is not deterministic") }
        if let tls = config.tls {
            for path in tls.watchedPaths where !path.hasPrefix("/") { fatalError("relative path left: \(path)") }
            guard tls.minVersion <= tls.maxVersion else { fatalError("min_version above max_version accepted") }
            if tls.clientCA != nil && tls.clientAuth == .noClientCert { fatalError("client CA without client auth accepted") }
        }
        for (_, hash) in config.users where BcryptHash(hash.text) != hash || hash.text.utf8.count != 60 {
            fatalError("malformed hash accepted")
        }
        for header in config.headers {
            guard let allowed = WebConfigParser.allowedHeaders[header.name], allowed.isEmpty || allowed.contains(header.value),
                  !header.value.isEmpty else { fatalError("header accepted: \(header.name): \(header.value)") }
        }
        if let limit = config.rateLimit, !(limit.interval > 0) { fatalError("non-positive rate interval kept") }
    }

    /// Arbitrary bytes as an `Authorization` header value: credentials that parse survive an
    /// encode/parse round trip, and only standard base64 (plus CR/LF) follows the scheme.
    package static func basicAuth(_ data: UnsafeRawBufferPointer) {
        let header = String(decoding: data, as: UTF8.self)
        _ = BcryptHash(header).map { hash in
            guard hash.text.utf8.count == 60, (4...31).contains(hash.cost) else { fatalError("bad hash accepted") }
        }
        guard let credentials = BasicAuthCredentials(header: header) else { return }
        let payload = Array(header.utf8.dropFirst(6))
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n".utf8)
        guard payload.allSatisfy(alphabet.contains) else { fatalError("non-base64 accepted: \(header.debugDescription)") }
        let encoded = "Basic " + Base64.encode(credentials.user + [UInt8(ascii: ":")] + credentials.password)
        guard BasicAuthCredentials(header: encoded) == credentials else { fatalError("round trip failed for \(header.debugDescription)") }
        if !credentials.user.contains(UInt8(ascii: ":")) {
            // The same bytes hash to the same cache key, and a different password to another.
            let hash = BcryptHash(String(repeating: "a", count: 53).withPrefix("$2b$04$"))!
            var other = credentials
            other.password.append(0)
            guard PasswordChecker.cacheKey(credentials, hash: hash) == PasswordChecker.cacheKey(credentials, hash: hash),
                  PasswordChecker.cacheKey(credentials, hash: hash) != PasswordChecker.cacheKey(other, hash: hash) else {
                fatalError("cache key is not a function of the credentials")
            }
        }
    }
}

private extension String {
    func withPrefix(_ prefix: String) -> String { prefix + self }
}
