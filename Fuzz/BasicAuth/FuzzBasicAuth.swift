// libFuzzer target: arbitrary bytes as an Authorization header (Go's BasicAuth reading) and as a
// bcrypt hash from basic_auth_users. See WebConfigFuzzing.basicAuth for the checks. Built by `make fuzz`.
import ExporterHTTP

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzBasicAuth(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    WebConfigFuzzing.basicAuth(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

/// SwiftPM links an executable with `main` defined as `<module>_main`; hand control to libFuzzer.
@_cdecl("fuzz_basic_auth_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runLibFuzzer(argc, argv, fuzzBasicAuth)
}
