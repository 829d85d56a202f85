import Glibc

/// Seconds on the monotonic clock (never jumps with wall-clock changes): for durations and
/// "how long ago", never for timestamps that leave the process.
package func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
