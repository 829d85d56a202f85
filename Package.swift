// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "multiproc-exporter",
    platforms: [.macOS(.v14)],
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
            providers: [.apt(["libevent-dev"]), .brew(["libevent"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),

        // Files -> merge -> render. Knows nothing of HTTP or libevent.
        .target(name: "MultiprocCollector"),

        // libevent front: routes, limits, auth, gzip, single-flight refresh.
        .target(
            name: "ExporterHTTP",
            dependencies: [
                "CLibevent",
                "CZlib",
                "MultiprocCollector",
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

        .testTarget(
            name: "MultiprocCollectorTests",
            dependencies: ["MultiprocCollector"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "ExporterHTTPTests",
            dependencies: [
                "ExporterHTTP", "MultiprocCollector", "CZlib",
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
        ("fuzz-accept-negotiation", "Fuzz/AcceptNegotiation", "MultiprocCollector"),
        ("fuzz-http-request", "Fuzz/HTTPRequest", "ExporterHTTP"),
    ]
    for target in fuzzTargets {
        package.targets.append(.executableTarget(
            name: target.name, dependencies: [target.dependency], path: target.path,
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
    }
}
