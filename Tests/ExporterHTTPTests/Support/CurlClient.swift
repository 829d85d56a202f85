import Foundation
import MultiprocSupport
import TestSupport

/// HTTPS requests through the `curl` command (OpenSSL build): a real TLS client. Files are read
/// with `FileContents`: Foundation's readers leak 4 KiB per empty file (LeakSanitizer), and a
/// refused handshake leaves the header file empty.
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
        let dir = TemporaryDirectory(prefix: "curl")
        let headerFile = dir.file("headers"), bodyFile = dir.file("body")
        var arguments = ["-sS", "--max-time", "10", "-D", headerFile, "-o", bodyFile, "-w", "%{http_code}"]
        if let ca { arguments += ["--cacert", ca] }
        if let user { arguments += ["-u", user] }
        if let cert { arguments += ["--cert", cert] }
        if let key { arguments += ["--key", key] }
        arguments += extra + ["\(scheme)://127.0.0.1:\(port)\(path)"]
        let result = try ChildProcess.run("curl", arguments)
        var headers: [String: String] = [:]
        for line in (FileContents.text(headerFile) ?? "").components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Response(exitCode: result.status, status: Int(result.stdout) ?? 0, headers: headers,
                        body: FileContents.text(bodyFile, limit: 64 << 20) ?? "", stderr: result.stderr)
    }
}
