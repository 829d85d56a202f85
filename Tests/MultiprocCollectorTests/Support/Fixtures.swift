import Foundation
import MultiprocSupport
import TestSupport

// MARK: - Finding and copying the committed fixtures

/// The golden fixtures written by `scripts/golden/regenerate.sh`, copied into the test bundle
/// by `resources: [.copy("Fixtures")]`.
enum Fixtures {

    /// `…/Fixtures`, from the test bundle. When the bundle has no copy (a build that skipped
    /// resources), the source tree next to this file is used instead.
    static let root: URL = {
        if let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) { return url }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
    }()

    /// Names of the case directories (those holding `expected/index.json`), sorted.
    static let caseNames: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { name in
            FileManager.default.fileExists(atPath: root.appendingPathComponent(name).appendingPathComponent("expected/index.json").path)
        }.sorted()
    }()

    static func url(_ parts: String...) -> URL {
        parts.reduce(root) { $0.appendingPathComponent($1) }
    }

    /// Not `Data(contentsOf:)`: it leaks 4 KiB for every empty file it reads (swift-foundation
    /// with Swift 6.3.1, seen by LeakSanitizer), and several expected bodies are empty.
    static func bytes(_ url: URL) throws -> [UInt8] {
        try FileContents.read(url.path, limit: 64 << 20)
    }

    static func decode<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(bytes(url)))
    }

    /// Lines of a text fixture without the comment lines (starting with `#`) and blank lines.
    static func dataLines(_ name: String) throws -> [Substring] {
        let text = String(decoding: try bytes(url(name)), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: true).filter { !$0.hasPrefix("#") }
    }
}

/// One entry of `expected/index.json`: an Accept header and what Python answered.
struct RecordedScrape: Decodable, Sendable {
    var slug: String
    var accept: String?
    var contentType: String

    enum CodingKeys: String, CodingKey {
        case slug, accept
        case contentType = "content_type"
    }
}

/// One entry of `expected/problems.json`.
struct ExpectedProblem: Decodable, Hashable, Sendable, CustomStringConvertible {
    var file: String
    var reason: String
    var description: String { "\(file): \(reason)" }
}

/// `expected/setup.json`: what git cannot hold and the test creates in its copy.
struct CaseSetup: Decodable, Sendable {
    struct Symlink: Decodable, Sendable {
        var name: String
        var target: String
    }
    var directories: [String] = []
    var symlinks: [Symlink] = []
}

/// A private copy of a case's `db/` in a temporary directory, removed on `remove()`.
/// Tests never run the collector on the fixtures themselves.
struct ScratchDirectory {
    private let directory = TemporaryDirectory(prefix: "golden")
    var url: URL { directory.url }
    var path: String { directory.path }

    /// Copies the `.db` files (and anything else) of `source`; an absent `source` gives an empty directory.
    init(copying source: URL, setup: CaseSetup? = nil) throws {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: source.path)) ?? [] where name != ".gitkeep" {
            try fm.copyItem(at: source.appendingPathComponent(name), to: url.appendingPathComponent(name))
        }
        for name in setup?.directories ?? [] {
            try fm.createDirectory(at: url.appendingPathComponent(name), withIntermediateDirectories: false)
        }
        for link in setup?.symlinks ?? [] {
            try fm.createSymbolicLink(atPath: url.appendingPathComponent(link.name).path, withDestinationPath: link.target)
        }
    }

    func listing() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    func remove() { directory.remove() }
}
