// swift-tools-version:6.0
import PackageDescription

// An application embedding the MultiprocCollector library: it depends on the exporter's
// package by path, as an app in the same repository or a checkout next to it would (from a
// registry or git it would be `.package(url: ..., from: ...)`).
let package = Package(
    name: "embedding",
    dependencies: [
        .package(name: "multiproc-exporter", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "embedding",
            dependencies: [.product(name: "MultiprocCollector", package: "multiproc-exporter")]
        ),
    ]
)
