// libFuzzer target: arbitrary bytes as a metric file, read in memory by the collector's own
// parser, key table, merge plan and renderer, warm (incremental) against cold. See
// CollectorFuzzing.fileReader for the checks; fuzz-scrape does the same through a directory.
// Built by `make fuzz`.
import MultiprocCollector

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzFileReader(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    CollectorFuzzing.fileReader(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

/// SwiftPM links an executable with `main` defined as `<module>_main`; hand control to libFuzzer.
@_cdecl("fuzz_file_reader_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runLibFuzzer(argc, argv, fuzzFileReader)
}
