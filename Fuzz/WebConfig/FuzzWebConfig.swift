// libFuzzer target: arbitrary bytes as a --web.config.file (libyaml, our composer, then the strict schema walk).
// See WebConfigFuzzing.webConfig for the checks. Built by `make fuzz`.
import ExporterHTTP

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzWebConfig(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    WebConfigFuzzing.webConfig(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

/// SwiftPM links an executable with `main` defined as `<module>_main`; hand control to libFuzzer.
@_cdecl("fuzz_web_config_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runLibFuzzer(argc, argv, fuzzWebConfig)
}
