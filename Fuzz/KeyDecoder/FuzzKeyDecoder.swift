// libFuzzer target: arbitrary bytes as an entry key (SampleKey.decode, strict JSON with
// Python's rules), with a round-trip check; plus the entry parser on the same bytes as a
// file image. Built by `make fuzz`.
import MultiprocCollector

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzKeyDecoder(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    CollectorFuzzing.keyDecoder(bytes)
    CollectorFuzzing.entryParser(bytes)
    return 0
}

/// SwiftPM links an executable with `main` defined as `<module>_main`; hand control to libFuzzer.
@_cdecl("fuzz_key_decoder_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runLibFuzzer(argc, argv, fuzzKeyDecoder)
}
