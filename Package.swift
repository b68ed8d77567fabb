// swift-tools-version: 6.1
//
// UpgradeBench: libp2p connection-upgrade benchmarks (multistream-select, Noise, TLS, yamux).
//
// The micro-benchmarks live in the nested package `Benchmarks/` (as in swift-nio), so that
// `swift build` and `swift test` here never resolve or build package-benchmark.

import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// For targets that use Glibc's socket structs: with MemberImportVisibility, release builds
/// attribute `sockaddr_in`'s fields to whichever clang module imported the header first (NIO's
/// CNIOLinux), and refuse them unless that internal module is imported.
let cInteropSwiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "UpgradeBench",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "P2PCore", targets: ["P2PCore"]),
        .library(name: "Multistream", targets: ["Multistream"]),
        .library(name: "Noise", targets: ["Noise"]),
        .library(name: "TLS", targets: ["TLS"]),
        .library(name: "Yamux", targets: ["Yamux"]),
        .library(name: "Upgrader", targets: ["Upgrader"]),
        .library(name: "NetworkEmulation", targets: ["NetworkEmulation"]),
        .library(name: "UpgradeBenchKit", targets: ["UpgradeBenchKit"]),
        .executable(name: "bench", targets: ["bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // MARK: - C libraries

        // libsodium: X25519, Ed25519, and its ChaCha20-Poly1305 / SHA-256 for comparison.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // OpenSSL 3: TLS 1.3, X.509, non-Ed25519 identity keys, fast ChaCha20-Poly1305 and SHA-256.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),

        // Linux calls Swift's Glibc module does not import (namespaces, TUN ioctls, ppoll).
        .target(name: "CNetworkEmulation"),

        // MARK: - Protocols

        .target(
            name: "P2PCore",
            dependencies: [
                "CSodium",
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Multistream",
            dependencies: [
                "P2PCore",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Noise",
            dependencies: [
                "P2PCore",
                "CSodium",
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Payload/payload.proto"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TLS",
            dependencies: [
                "P2PCore",
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Yamux",
            dependencies: [
                "P2PCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Upgrade, emulation, driver

        .target(
            name: "NetworkEmulation",
            dependencies: [
                "CNetworkEmulation",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: cInteropSwiftSettings
        ),
        .target(
            name: "Upgrader",
            dependencies: [
                "P2PCore",
                "Multistream",
                "Noise",
                "TLS",
                "Yamux",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "UpgradeBenchKit",
            dependencies: [
                "P2PCore",
                "TLS",
                "Upgrader",
                "NetworkEmulation",
                // Only for the library versions recorded in meta.json.
                "CSodium",
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "bench",
            dependencies: [
                "UpgradeBenchKit",
                "Upgrader",
                "TLS",
                "NetworkEmulation",
                "P2PCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Tests

        // Fixture loading and hex helpers shared by the test targets; fixtures live in Tests/Fixtures.
        .target(
            name: "TestSupport",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "P2PCoreTests",
            dependencies: [
                "TestSupport",
                "P2PCore",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NoiseTests",
            dependencies: [
                "TestSupport",
                "Noise", "P2PCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "UpgradeBenchKitTests",
            dependencies: [
                "TestSupport",
                "UpgradeBenchKit",
                "Upgrader",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TLSTests",
            dependencies: [
                "TestSupport",
                "TLS", "P2PCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MultistreamTests",
            dependencies: [
                "TestSupport",
                "Multistream", "P2PCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "UpgraderTests",
            dependencies: [
                "TestSupport",
                "Upgrader", "P2PCore", "Multistream", "Noise", "TLS", "Yamux", "NetworkEmulation",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NetworkEmulationTests",
            dependencies: [
                "TestSupport",
                "NetworkEmulation",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Runs the built `bench` executable (listen, dial, exit codes, signals); it needs no
        // dependency on the executable target, since `swift test` builds every product anyway.
        // Raw sockets for a connect check, hence the C-interop settings.
        .testTarget(
            name: "BenchCLITests",
            dependencies: ["P2PCore"],
            swiftSettings: cInteropSwiftSettings
        ),
        .testTarget(
            name: "YamuxTests",
            dependencies: [
                "TestSupport",
                "Yamux", "P2PCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
