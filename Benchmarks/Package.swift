// swift-tools-version: 6.1
//
// Micro-benchmarks for UpgradeBench (ordo-one/benchmark), kept in a nested package as swift-nio does,
// so the root package's `swift build` / `swift test` never build package-benchmark.
//
// Run:    swift package --package-path Benchmarks benchmark
// Gate:   scripts/check-benchmark-thresholds.sh   (malloc counts against Thresholds/<swift version>/)

import PackageDescription

/// Every benchmark executable depends on the benchmark library and is built through its plugin.
func benchmarkTarget(_ name: String, dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name,
        dependencies: [.product(name: "Benchmark", package: "benchmark")] + dependencies,
        path: "Benchmarks/\(name)",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
}

let package = Package(
    name: "UpgradeBenchBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "UpgradeBench", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        benchmarkTarget(
            "CoreBenchmarks",
            dependencies: [
                .product(name: "P2PCore", package: "UpgradeBench"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        benchmarkTarget(
            "MultistreamBenchmarks",
            dependencies: [
                .product(name: "Multistream", package: "UpgradeBench"),
                .product(name: "P2PCore", package: "UpgradeBench"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        benchmarkTarget(
            "YamuxBenchmarks",
            dependencies: [
                .product(name: "Yamux", package: "UpgradeBench"),
                .product(name: "P2PCore", package: "UpgradeBench"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        benchmarkTarget(
            "NoiseBenchmarks",
            dependencies: [
                .product(name: "Noise", package: "UpgradeBench"),
                .product(name: "P2PCore", package: "UpgradeBench"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        // The libp2p TLS handshake, record layer and raw AEAD written directly in C (OpenSSL 3 and
        // libsodium), so TLSBenchmarks measures the Swift/C ratio in the same run. OpenSSL's headers
        // stay inside the .c file and never meet the root package's COpenSSL module.
        .target(
            name: "CTLSReference",
            path: "Sources/CTLSReference",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto"), .linkedLibrary("sodium")]
        ),
        benchmarkTarget(
            "TLSBenchmarks",
            dependencies: [
                "CTLSReference",
                .product(name: "TLS", package: "UpgradeBench"),
                .product(name: "P2PCore", package: "UpgradeBench"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
    ]
)
