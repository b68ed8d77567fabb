// swift-tools-version: 6.1
//
// Coverage-guided fuzzers (libFuzzer) for every decoder of UpgradeBench that takes a peer's bytes,
// kept in a nested package as swift-nio-http2 and swift-nio-ssh keep theirs, so that the root
// package never builds them. Each executable is one fuzzer; Corpus/<target>/ holds its seeds.
//
// Build and run: scripts/fuzz.sh (see docs/fuzzing.md). The build needs the root modules compiled
// with coverage instrumentation and testability (some targets reach internal entry points):
//
//   swift build --package-path Fuzz -c release \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing

import PackageDescription

/// One fuzzer: `Sources/<name>/main.swift` starts libFuzzer, the other file exports
/// `LLVMFuzzerTestOneInput`.
func fuzzer(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["CFuzzDriver", "FuzzSupport", .product(name: "NIOCore", package: "swift-nio")] + dependencies,
        swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
    )
}

let package = Package(
    name: "UpgradeBenchFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "UpgradeBench", path: "../"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    ],
    targets: [
        .target(name: "CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
        .target(
            name: "NoiseFuzzSupport",
            dependencies: [
                .product(name: "Noise", package: "UpgradeBench"),
                .product(name: "P2PCore", package: "UpgradeBench"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),

        fuzzer("FuzzVarint", [.product(name: "P2PCore", package: "UpgradeBench")]),
        fuzzer("FuzzMultiaddr", [.product(name: "P2PCore", package: "UpgradeBench")]),
        fuzzer("FuzzPeerID", [.product(name: "P2PCore", package: "UpgradeBench")]),
        fuzzer("FuzzMultistreamMessage", [
            .product(name: "Multistream", package: "UpgradeBench"),
            .product(name: "P2PCore", package: "UpgradeBench"),
        ]),
        fuzzer("FuzzMultistreamDialer", [
            .product(name: "Multistream", package: "UpgradeBench"),
            .product(name: "P2PCore", package: "UpgradeBench"),
        ]),
        fuzzer("FuzzMultistreamListener", [
            .product(name: "Multistream", package: "UpgradeBench"),
            .product(name: "P2PCore", package: "UpgradeBench"),
        ]),
        fuzzer("FuzzNoiseInitiator", [
            "NoiseFuzzSupport",
            .product(name: "Noise", package: "UpgradeBench"),
            .product(name: "P2PCore", package: "UpgradeBench"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        fuzzer("FuzzNoiseResponder", [
            "NoiseFuzzSupport",
            .product(name: "Noise", package: "UpgradeBench"),
            .product(name: "P2PCore", package: "UpgradeBench"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        fuzzer("FuzzNoisePayload", [
            "NoiseFuzzSupport",
            .product(name: "Noise", package: "UpgradeBench"),
            .product(name: "P2PCore", package: "UpgradeBench"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        fuzzer("FuzzNoiseTransport", [
            .product(name: "Noise", package: "UpgradeBench"),
            .product(name: "P2PCore", package: "UpgradeBench"),
        ]),
        fuzzer("FuzzTLSCertificate", [
            .product(name: "TLS", package: "UpgradeBench"),
            .product(name: "P2PCore", package: "UpgradeBench"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        fuzzer("FuzzYamuxFrame", [
            .product(name: "Yamux", package: "UpgradeBench"),
            .product(name: "P2PCore", package: "UpgradeBench"),
        ]),
        fuzzer("FuzzYamuxSession", [
            .product(name: "Yamux", package: "UpgradeBench"),
            .product(name: "P2PCore", package: "UpgradeBench"),
        ]),
    ]
)
