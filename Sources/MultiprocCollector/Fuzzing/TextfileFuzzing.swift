// MARK: - The textfile parser under fuzzing (FOR FUZZING ONLY)

extension CollectorFuzzing {

    /// Any bytes as one textfile: served or reported, never a crash, never output that the
    /// text format's parser refuses. Steps:
    /// 1. parse; a refusal must name a line of the input (1 … lines + 1);
    /// 2. build and merge the families as a scrape does (one file, nothing reserved);
    /// 3. render them in every format: each body valid UTF-8, OpenMetrics ending in one `# EOF`;
    /// 4. the text 0.0.4 body (what Prometheus negotiates by default, and what
    ///    `promtool check metrics` and the Pushgateway read) parses again with no problem and
    ///    no family left out: the parser follows Go's `expfmt.TextParser`, so Prometheus'
    ///    parser accepts it (the textfile checks run `promtool` over such output);
    /// 5. the text body with `escaping=allow-utf-8`, which keeps every name, reads back as the
    ///    very same families, values bit for bit.
    package static func textfile(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        let parsed: [ParsedFamily]
        do {
            parsed = try TextFormatParser.parse(bytes)
        } catch {
            let lines = bytes.count { $0 == UInt8(ascii: "\n") } + 1
            switch error {
            case .syntax(let syntax): guard (1...lines).contains(syntax.line) else { fatalError("error at line \(syntax.line) of \(lines)") }
            case .timestamp(let line): guard (1...lines).contains(line) else { fatalError("timestamp at line \(line) of \(lines)") }
            }
            return
        }
        let families = merged(parsed, what: "the input")

        for format in formats {
            var body: [UInt8] = []
            ExpositionWriter.write(families, format: format, into: &body)
            body += format.trailer
            guard String(validating: body, as: UTF8.self) != nil else { fatalError("\(format): body is not UTF-8") }
            if format.syntax == .openMetrics {
                // Every line of the body but the last is a sample or a `# HELP`/`# TYPE` line.
                let eofs = body.split(separator: UInt8(ascii: "\n")).count { $0.elementsEqual("# EOF".utf8) }
                guard eofs == 1, body.suffix(6).elementsEqual("# EOF\n".utf8) else { fatalError("\(format): \(eofs) # EOF") }
            }
        }
        for format in [ExpositionFormat.prometheusText004, .negotiate(accept: "text/plain;version=1.0.0;escaping=allow-utf-8")] {
            var body: [UInt8] = []
            ExpositionWriter.write(families, format: format, into: &body)
            let again: [ParsedFamily]
            do {
                again = try TextFormatParser.parse(body)
            } catch {
                fatalError("\(format): our own output is refused: \(error)\n\(String(decoding: body, as: UTF8.self))")
            }
            let reread = merged(again, what: "our \(format) output")
            if format.escaping == .allowUTF8, reread != families {
                fatalError("read back differently:\n\(families)\n\(reread)")
            }
        }
    }

    /// The families one file serves; `what` names the input for a failure.
    private static func merged(_ parsed: [ParsedFamily], what: String) -> [MetricFamily] {
        var merge = TextfileMerge(directoryClaims: NameClaims(), reserved: NameClaims(), reservedPrefix: nil)
        var problems: [TextfileProblem] = []
        for family in TextfileFamily.build(parsed) {
            if let problem = merge.add(family, file: "fuzz.prom") { problems.append(problem) }
        }
        if what != "the input", !problems.isEmpty { fatalError("\(what) has problems: \(problems)") }
        return merge.families()
    }
}
