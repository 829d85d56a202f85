import Testing
import MultiprocCollector
@testable import ExporterHTTP

/// ``WorkerExposition`` (pieces kept between scrapes) writes exactly what ``ExpositionWriter``
/// writes for ``WorkerFamilies/families(_:)``, in every format, scrape after scrape, as
/// processes come and go.
@Suite("WorkerExposition: the kept pieces render what the writer renders")
struct WorkerExpositionTests {
    static let accepts = [
        nil, "text/plain", "text/plain;version=1.0.0;escaping=allow-utf-8", "text/plain;version=1.0.0;escaping=underscores",
        "text/plain;version=1.0.0;escaping=dots", "text/plain;version=1.0.0;escaping=values",
        "application/openmetrics-text", "application/openmetrics-text;version=1.0.0;escaping=dots",
        "application/openmetrics-text;version=1.0.0;escaping=values",
    ]

    static func report(pids: [Int], parent: Int?, seed: Double) -> WorkerReport {
        var report = WorkerReport()
        report.visible = true
        report.workers = pids.map { pid in
            ObservedProcess(pid: pid, cpu: CPUTime(user: seed * 1.5, system: 0.01 * seed), residentBytes: 2.5e7 + seed,
                            proportionalBytes: pid % 2 == 0 ? 9e6 : nil, virtualBytes: 3.5e7, openDescriptors: pid % 3 == 0 ? nil : 12,
                            maxDescriptors: 1024, threads: 1, startTime: 1.79668261583e9)
        }
        report.parents = parent.map { [ObservedProcess(pid: $0, cpu: CPUTime(user: 0.1, system: 0.04), residentBytes: 3e7, virtualBytes: 3.5e7,
                                                       threads: 2, startTime: 1.7e9)] } ?? []
        report.workersCPU = CPUTime(user: 12.34 + seed, system: 0.5)
        report.parentsCPU = CPUTime(user: 0.1, system: 0.04)
        report.workerExits = Int(seed)
        return report
    }

    @Test(arguments: accepts)
    func keptPiecesWriteWhatTheWriterWrites(accept: String?) {
        let format = ExpositionFormat.negotiate(accept: accept)
        let exposition = WorkerExposition()
        var pids = [101, 102, 103]
        for scrape in 0..<40 {
            if scrape % 2 == 1 { pids = pids.dropFirst() + [pids.last! + 7] }  // recycled: an old pid goes, a new one comes (old prefixes dropped)
            let report = Self.report(pids: pids, parent: scrape < 30 ? 50 : nil, seed: Double(scrape))
            var kept: [UInt8] = []
            exposition.render(WorkerFamilies.lines(report), format: format, into: &kept)
            var written: [UInt8] = []
            ExpositionWriter.write(WorkerFamilies.families(report), format: format, into: &written)
            #expect(kept == written, "scrape \(scrape), \(accept ?? "no Accept")")
        }
    }

    @Test func anInvisibleAppRendersNothing() {
        var report = Self.report(pids: [1], parent: nil, seed: 1)
        report.visible = false
        var out: [UInt8] = []
        WorkerExposition().render(WorkerFamilies.lines(report), format: .prometheusText004, into: &out)
        #expect(out.isEmpty && WorkerFamilies.families(report).isEmpty)
    }
}
