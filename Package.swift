// swift-tools-version:6.0
import PackageDescription
import Glibc  // exit(): Linux only, like the package (below)

// MARK: - Build information

/// The version being developed; bump it right after tagging a release (CHANGELOG.md).
/// `make dist` (deploy/version.sh) turns it into `0.2.0~dev+git<n>.g<commit>` from
/// `git describe`, or the tag's version on a tagged commit, and passes that in
/// MULTIPROC_EXPORTER_VERSION; a plain `swift build` reports `<baseVersion>-dev`.
let baseVersion = "0.2.0"

/// `-D` definitions for CBuildInfo from the build's environment. SwiftPM evaluates the
/// manifest again when the environment changes, and a changed definition recompiles the one
/// C file: no generated source is committed.
var buildInfoSettings: [CSetting] {
    let values = [
        ("MULTIPROC_EXPORTER_VERSION", Context.environment["MULTIPROC_EXPORTER_VERSION"] ?? "\(baseVersion)-dev"),
        ("MULTIPROC_EXPORTER_REVISION", Context.environment["MULTIPROC_EXPORTER_REVISION"] ?? "unknown"),
    ]
    // Debian version characters plus what a revision needs; anything else would have to be
    // escaped into the C string literal.
    let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+~-")
    return values.map { name, value in
        guard !value.isEmpty, value.allSatisfy(allowed.contains) else {
            print("error: \(name)=\"\(value)\": use only letters, digits and . + ~ -")
            exit(1)
        }
        return .define(name, to: "\"\(value)\"")
    }
}

// Linux only: the collector relies on Linux interfaces (mmap + SIGBUS recovery, st_mtim,
// CLOCK_REALTIME_COARSE, memfd_create, /proc), and CI runs on Debian. No other platform is
// declared because none is built or tested.
let package = Package(
    name: "multiproc-exporter",
    products: [
        .library(name: "MultiprocCollector", targets: ["MultiprocCollector"]),
        .executable(name: "multiproc-exporter", targets: ["multiproc-exporter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // System libraries: module map + shim header; pkg-config supplies the flags.
        .systemLibrary(
            name: "CLibevent",
            pkgConfig: "libevent",
            providers: [.apt(["libevent-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // TLS (--web.config.file): libevent's OpenSSL bufferevents over the system OpenSSL.
        .systemLibrary(
            name: "CLibeventOpenSSL",
            pkgConfig: "libevent_openssl",
            providers: [.apt(["libevent-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // bcrypt for basic_auth_users: libxcrypt's crypt_r.
        .systemLibrary(
            name: "CCrypt",
            pkgConfig: "libxcrypt",
            providers: [.apt(["libcrypt-dev"])]
        ),
        // --web.config.file is YAML (exporter-toolkit's format): libyaml's event parser.
        .systemLibrary(
            name: "CLibYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),

        // Small helpers both modules share (lock, monotonic clock, JSON strings, small files);
        // `package` access only: not part of any product's API.
        .target(name: "MultiprocSupport"),

        // The version and git revision this build reports (see "Build information" above).
        .target(name: "CBuildInfo", cSettings: buildInfoSettings),

        // Files -> merge -> render. Knows nothing of HTTP or libevent.
        .target(name: "MultiprocCollector", dependencies: ["MultiprocSupport"]),

        // libevent front: routes, limits, auth, gzip, single-flight refresh.
        .target(
            name: "ExporterHTTP",
            dependencies: [
                "CBuildInfo",
                "CLibevent",
                "CZlib",
                "CLibeventOpenSSL",
                "COpenSSL",
                "CCrypt",
                "CLibYAML",
                "MultiprocCollector",
                "MultiprocSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // CLI: parses flags and wires things together.
        .executableTarget(
            name: "multiproc-exporter",
            dependencies: [
                "MultiprocCollector",
                "ExporterHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // What both test targets use (child processes read while they run, temporary
        // directories, polling). A regular target because test targets cannot depend on one
        // another; nothing but the test targets depends on it.
        .target(name: "TestSupport", dependencies: ["MultiprocSupport"], path: "Tests/TestSupport"),

        .testTarget(
            name: "MultiprocCollectorTests",
            dependencies: ["MultiprocCollector", "MultiprocSupport", "TestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "ExporterHTTPTests",
            dependencies: [
                "ExporterHTTP", "MultiprocCollector", "MultiprocSupport", "CZlib", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)

// libFuzzer targets (`make fuzz`), declared only when MULTIPROC_FUZZ=1: they have no `main`
// (libFuzzer supplies it under -sanitize=fuzzer), so an ordinary build must not see them.
// They reach the `package`-level entry points in Sources/*/Fuzzing.swift.
if Context.environment["MULTIPROC_FUZZ"] == "1" {
    let fuzzTargets: [(name: String, path: String, dependency: Target.Dependency)] = [
        ("fuzz-file-reader", "Fuzz/FileReader", "MultiprocCollector"),
        ("fuzz-scrape", "Fuzz/Scrape", "MultiprocCollector"),
        ("fuzz-key-decoder", "Fuzz/KeyDecoder", "MultiprocCollector"),
        ("fuzz-layout-equivalence", "Fuzz/LayoutEquivalence", "MultiprocCollector"),
        ("fuzz-accept-negotiation", "Fuzz/AcceptNegotiation", "MultiprocCollector"),
        ("fuzz-textfile", "Fuzz/Textfile", "MultiprocCollector"),
        ("fuzz-http-request", "Fuzz/HTTPRequest", "ExporterHTTP"),
        ("fuzz-web-config", "Fuzz/WebConfig", "ExporterHTTP"),
        ("fuzz-basic-auth", "Fuzz/BasicAuth", "ExporterHTTP"),
    ]
    for target in fuzzTargets {
        package.targets.append(.executableTarget(
            name: target.name, dependencies: [target.dependency], path: target.path,
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
    }
}
