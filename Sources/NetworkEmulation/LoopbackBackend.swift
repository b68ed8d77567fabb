import Glibc
import NIOCore

/// ``NetworkEmulatorKind/none``: plain 127.0.0.1, dialed and timed the same way as the
/// emulators, so that loopback results differ from emulated ones only by the emulation.
final class LoopbackBackend: EmulatorBackend {
    let kind = NetworkEmulatorKind.none
    private let connectTimeoutNanoseconds: UInt64

    init(options: NetworkEmulator.Options) {
        self.connectTimeoutNanoseconds = UInt64(options.connectTimeout.wholeNanoseconds)
    }

    func makeListeningSocket(port: UInt16, backlog: CInt) async throws -> EmulatedListeningSocket {
        let (fd, address) = try EmulatorSocket.makeListeningSocket(
            at: EmulatorSocket.ipv4(127, 0, 0, 1, port: port),
            backlog: backlog
        )
        let socketAddress = SocketAddress(address, host: "127.0.0.1")
        return EmulatedListeningSocket(socket: fd, localAddress: socketAddress, dialAddress: socketAddress)
    }

    func dial<Result: Sendable>(
        to address: sockaddr_in,
        then: @escaping @Sendable (DialedSocket) throws -> Result
    ) async throws -> Result {
        guard EmulatorSocket.sameHost(address, EmulatorSocket.ipv4(127, 0, 0, 1, port: 0)) else {
            throw NetworkEmulationError.unknownDialTarget("loopback paths dial 127.0.0.1 only")
        }
        let timeout = self.connectTimeoutNanoseconds
        return try await EmulatorThread.run(name: "ubnetem-dial") {
            let dialed = try EmulatorSocket.connect(to: address, from: nil, timeoutNanoseconds: timeout)
            return try then(DialedSocket(fd: dialed.fd, startedAt: dialed.startedAt, connectedAt: dialed.connectedAt))
        }
    }

    func releaseListener(dialAddress: sockaddr_in) {}

    func stop() {}

    var statistics: NetworkEmulatorStatistics { NetworkEmulatorStatistics() }

    var resources: EmulatorResources { EmulatorResources() }
}
