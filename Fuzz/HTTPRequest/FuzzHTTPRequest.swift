// libFuzzer target: arbitrary bytes as a request target (libevent's URI parser, the
// /mark-dead/<pid> route and PidParser) and as Authorization / Accept-Encoding headers.
// See HTTPFuzzing.request for the checks. Built by `make fuzz`.
import ExporterHTTP

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzHTTPRequest(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    HTTPFuzzing.request(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

/// SwiftPM links an executable with `main` defined as `<module>_main`; hand control to libFuzzer.
@_cdecl("fuzz_http_request_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runLibFuzzer(argc, argv, fuzzHTTPRequest)
}
