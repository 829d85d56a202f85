import Foundation

/// A fresh directory under the system's temporary directory, removed when the value goes
/// away (or earlier, by ``remove()``).
package final class TemporaryDirectory: @unchecked Sendable {
    package let path: String
    package var url: URL { URL(fileURLWithPath: path) }

    /// Creates `<tmp>/<prefix>-XXXXXX` (mkdtemp: a name nobody else holds, mode 0700).
    package init(prefix: String = "mpe-test") {
        var template = Array("\(NSTemporaryDirectory())/\(prefix)-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { remove() }

    /// The path of `name` inside the directory.
    package func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Removes the directory and everything in it.
    package func remove() { try? FileManager.default.removeItem(atPath: path) }
}
