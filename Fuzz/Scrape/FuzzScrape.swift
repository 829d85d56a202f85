// libFuzzer target: arbitrary bytes as a metric file in a directory, then full scrapes (warm and
// cold, through the filesystem) rendered in two formats. See CollectorFuzzing.scrape. Built by `make fuzz`.
import Glibc
import MultiprocCollector

/// One scratch directory per fuzzing process, on tmpfs when there is one.
let scratch: String = {
    let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    var template = Array("\(base)/mpe-fuzz-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}()

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzScrape(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    CollectorFuzzing.scrape(UnsafeRawBufferPointer(start: start, count: count), directory: scratch)
    return 0
}

/// SwiftPM links an executable with `main` defined as `<module>_main`; hand control to libFuzzer.
@_cdecl("fuzz_scrape_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runLibFuzzer(argc, argv, fuzzScrape)
}
