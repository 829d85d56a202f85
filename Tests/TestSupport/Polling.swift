import Foundation

/// Polls `condition` every 10 ms for up to `timeout` seconds; true as soon as it holds.
package func waitUntil(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
