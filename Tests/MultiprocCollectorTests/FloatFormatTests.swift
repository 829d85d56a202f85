import Testing
@testable import MultiprocCollector

@Suite struct FloatFormatTests {
    @Test func basics() {
        #expect(FloatFormat.goString(1) == "1.0")
    }
}
