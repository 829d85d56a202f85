import Glibc

// MARK: - Process start times against file times

/// Puts file times (wall clock) and process start times (ticks after boot) on one scale:
/// seconds after boot, `CLOCK_BOOTTIME`, which process start times use.
///
/// A wall-clock time is converted with today's offset between the two clocks. That offset
/// moves when the wall clock is stepped or slewed (NTP slews at most 500 ppm), so a converted
/// time may be off by a little; ``DeadWorkerRule`` only trusts a comparison beyond a margin
/// that grows with the age of the file (``margin(age:)``).
public struct BootClock: Sendable {
    /// Seconds after boot now.
    public var bootNow: @Sendable () -> Double
    /// Seconds since the Unix epoch now.
    public var wallNow: @Sendable () -> Double

    /// The machine's clocks.
    public static let system = BootClock(bootNow: { read(CLOCK_BOOTTIME) }, wallNow: { read(CLOCK_REALTIME) })

    /// A clock from two closures (tests).
    public init(bootNow: @escaping @Sendable () -> Double, wallNow: @escaping @Sendable () -> Double) {
        self.bootNow = bootNow
        self.wallNow = wallNow
    }

    /// The boot-clock time of the wall-clock time `wall`.
    public func bootTime(ofWallTime wall: Double) -> Double {
        wall - (wallNow() - bootNow())
    }

    /// How far apart two times must be before their order is trusted: one second (clock
    /// ticks, conversion) plus a thousandth of the file's age (the wall clock's drift since).
    public static func margin(age: Double) -> Double {
        1 + max(0, age) / 1000
    }

    private static func read(_ clock: clockid_t) -> Double {
        var now = timespec()
        clock_gettime(clock, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
