// libFuzzer target: arbitrary bytes as an `Accept` header: ExpositionFormat.negotiate (public),
// then a render of real prometheus_client files with UTF-8 names in the chosen format.
// Built by `make fuzz`.
import MultiprocCollector

/// The golden fixture with UTF-8 metric and label names, written by prometheus_client.
let snapshot: Snapshot = {
    let here = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")
    let directory = here + "/Tests/MultiprocCollectorTests/Fixtures/utf8_names/db"
    return try! DirectoryCollector(directory: directory).collect()
}()

let contentTypes: [String] = [
    "text/plain; version=0.0.4; charset=utf-8",
    "application/openmetrics-text; version=1.0.0; charset=utf-8",
]

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzAcceptNegotiation(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let header = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    let format = ExpositionFormat.negotiate(accept: header)
    guard format == ExpositionFormat.negotiate(accept: header) else { fatalError("negotiation is not deterministic") }
    let type = format.contentType
    let known = contentTypes.contains(type)
        || (type.hasPrefix("text/plain; version=1.0.0; charset=utf-8; escaping=") && format.syntax == .prometheusText)
        || (type.hasPrefix("application/openmetrics-text; version=") && type.hasSuffix("; escaping=\(format.escaping.rawValue)")
            && format.syntax == .openMetrics)
    guard known else { fatalError("unexpected content type \(type.debugDescription) for \(header.debugDescription)") }
    let body = snapshot.body(format)
    guard String(validating: body, as: UTF8.self) != nil else { fatalError("body is not UTF-8") }
    guard (format.syntax == .openMetrics) == body.suffix(6).elementsEqual("# EOF\n".utf8) else { fatalError("# EOF mismatch") }
    return 0
}

/// SwiftPM links an executable with `main` defined as `<module>_main`; hand control to libFuzzer.
@_cdecl("fuzz_accept_negotiation_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runLibFuzzer(argc, argv, fuzzAcceptNegotiation)
}
