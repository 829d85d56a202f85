// libFuzzer target: arbitrary bytes as a textfile (--textfile.directory): parsed, merged,
// rendered in every format, read back. See CollectorFuzzing.textfile. Built by `make fuzz`.
import MultiprocCollector

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzTextfile(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    CollectorFuzzing.textfile(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

/// SwiftPM links an executable with `main` defined as `<module>_main`; hand control to libFuzzer.
@_cdecl("fuzz_textfile_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runLibFuzzer(argc, argv, fuzzTextfile)
}
