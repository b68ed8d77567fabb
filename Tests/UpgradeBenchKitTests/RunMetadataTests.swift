import Foundation
import Testing
import UpgradeBenchKit

@Suite struct RunMetadataTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    @Test func collectsThisMachineAndThisBuild() throws {
        let matrix = try ScenarioMatrix.quick()
        let metadata = RunMetadata.collect(
            name: "test",
            matrix: matrix,
            commandLine: ["bench", "--quick", "--check"],
            emulators: [.init(name: "tun", delaysConnect: true)],
            startedAt: Date(timeIntervalSince1970: 1_800_000_000),
            gitDirectory: Self.repository
        )
        #expect(metadata.startedAt == "2027-01-15T08:00:00Z")
        #expect(metadata.matrix == "quick")
        #expect(metadata.scenarios == matrix.scenarios)
        #expect(metadata.machine.cores >= 1)
        #expect(metadata.machine.memoryBytes > 0)
        #expect(!metadata.machine.kernel.isEmpty)
        #expect(metadata.libraries.openssl.hasPrefix("OpenSSL "))
        #expect(metadata.libraries.opensslHeaders.hasPrefix("OpenSSL "))
        #expect(metadata.libraries.libsodium.first?.isNumber == true)
        #expect(metadata.build.configuration == "debug" || metadata.build.configuration == "release")
        #if os(Linux)
        #expect(metadata.machine.cpu?.isEmpty == false)
        #expect(metadata.machine.kernel.hasPrefix("Linux "))
        // The test binary links no jemalloc.
        #expect(metadata.libraries.allocator.hasPrefix("glibc 2."), "\(metadata.libraries.allocator)")
        #endif
        let commit = try #require(metadata.git.commit)
        #expect(commit.count == 40 && commit.allSatisfy(\.isHexDigit))
        #expect(metadata.git.dirty != nil)
    }

    @Test func gitOutsideACheckoutIsNil() {
        let git = RunMetadata.currentGit(directory: URL(fileURLWithPath: "/"))
        #expect(git.commit == nil)
        #expect(git.dirty == nil)
    }

    @Test func encodesAndDecodes() throws {
        let calibration = try #require(
            EmulatorCalibration(requestedRTTMilliseconds: 10, roundTripsMicroseconds: [10_090, 10_110, 10_070, 10_400])
        )
        #expect(calibration.samples == 4)
        #expect(calibration.p50Microseconds == 10_090)
        #expect(calibration.maximumMicroseconds == 10_400)
        #expect(EmulatorCalibration(requestedRTTMilliseconds: 10, roundTripsMicroseconds: []) == nil)
        let metadata = RunMetadata(
            name: "2026-11-25-140307",
            matrix: "default",
            commandLine: ["bench"],
            startedAt: "2026-11-25T14:03:07Z",
            git: .init(commit: String(repeating: "a", count: 40), dirty: false),
            machine: .init(cpu: "AMD EPYC", cores: 2, memoryBytes: 1 << 34, kernel: "Linux 6.18", hostname: "h"),
            build: .init(configuration: "release", swiftCompiler: ">=6.3"),
            libraries: .init(
                openssl: "OpenSSL 3.0.19",
                opensslHeaders: "OpenSSL 3.0.19",
                libsodium: "1.0.18",
                allocator: "glibc 2.36"
            ),
            emulators: [.init(name: "tun", delaysConnect: true, details: "TUN delayer", calibration: [calibration])],
            scenarios: [.test(.noise, .early, rtt: 10)],
            throughputScenarios: [.init(transport: .noise, rttMilliseconds: 0, emulator: .loopback)]
        )
        let data = try JSONEncoder().encode(metadata)
        #expect(try JSONDecoder().decode(RunMetadata.self, from: data) == metadata)
    }
}
