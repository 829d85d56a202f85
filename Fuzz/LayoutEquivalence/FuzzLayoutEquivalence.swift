// libFuzzer target: the same entries written in two file layouts of different
// prometheus_client releases must be detected as those layouts and read to the same body.
// See CollectorFuzzing.layoutEquivalence for the input format. Built by `make fuzz`.
import MultiprocCollector

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzLayoutEquivalence(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    CollectorFuzzing.layoutEquivalence(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

/// SwiftPM links an executable with `main` defined as `<module>_main`; hand control to libFuzzer.
@_cdecl("fuzz_layout_equivalence_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runLibFuzzer(argc, argv, fuzzLayoutEquivalence)
}
