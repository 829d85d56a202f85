import Foundation

/// HTTPS requests through the `curl` command (OpenSSL build): a real TLS client.
enum Curl {
    struct Response {
        /// curl's exit status: 0, or e.g. 35 (handshake failed), 56 (connection reset).
        var exitCode: Int32
        var status: Int
        var headers: [String: String]
        var body: String
        var stderr: String
    }

    static func get(port: Int, _ path: String, ca: String? = TLSFiles.shared.path("ca.pem"), user: String? = nil,
                    cert: String? = nil, key: String? = nil, extra: [String] = [], scheme: String = "https") throws -> Response {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("curl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let headerFile = dir.appendingPathComponent("headers").path, bodyFile = dir.appendingPathComponent("body").path
        var arguments = ["-sS", "--max-time", "10", "-D", headerFile, "-o", bodyFile, "-w", "%{http_code}"]
        if let ca { arguments += ["--cacert", ca] }
        if let user { arguments += ["-u", user] }
        if let cert { arguments += ["--cert", cert] }
        if let key { arguments += ["--key", key] }
        arguments += extra + ["\(scheme)://127.0.0.1:\(port)\(path)"]
        let result = try Subprocess.run("curl", arguments)
        var headers: [String: String] = [:]
        for line in ((try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? "").components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Response(exitCode: result.status, status: Int(result.stdout) ?? 0, headers: headers,
                        body: (try? String(contentsOfFile: bodyFile, encoding: .utf8)) ?? "", stderr: result.stderr)
    }
}
