/// The HTML served at `GET /`: what this is, where the metrics are, which directory it reads.
enum LandingPage {
    static func html(version: String, directory: String, telemetryPath: String, adminEnabled: Bool) -> String {
        let metrics = escape(telemetryPath)
        var admin = ""
        if adminEnabled {
            admin = "<li><code>POST /mark-dead/&lt;pid&gt;</code>: remove a dead worker's live gauge files</li>\n"
        }
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head><meta charset="utf-8"><title>multiproc-exporter</title></head>
            <body>
            <h1>multiproc-exporter</h1>
            <p>Prometheus exporter for the metric files of prometheus_client in multiprocess mode.</p>
            <ul>
            <li><a href="\(metrics)">\(metrics)</a>: merged metrics</li>
            <li><a href="/healthz">/healthz</a>: health check</li>
            \(admin)</ul>
            <p>Version: \(escape(version))<br>Directory: <code>\(escape(directory))</code></p>
            </body>
            </html>

            """
    }

    /// Escapes text for HTML element content and double-quoted attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
