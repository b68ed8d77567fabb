import NIOCore
import NetworkEmulation
import P2PCore

/// Another implementation listening on the listener side of an emulated path, started through
/// its adapter (docs/peers.md) inside the listener's namespace, so that the emulated delay
/// applies to it exactly as to UpgradeBench's own listener.
final class ForeignListener: Sendable {
    let peer: Scenario.Peer
    let process: PeerProcess
    let path: EmulatedPath
    /// Where the dialer connects (the relay's frontend on a relay path).
    let dialAddress: SocketAddress
    /// The identity the adapter announced; every dial checks it.
    let peerID: PeerID
    /// What the start-up line said: implementation, version, whether it offers early negotiation.
    let announcement: PeerAnnouncement

    /// How long an adapter may take to start (a Python interpreter and a host, or a daemon).
    static let startTimeout: Duration = .seconds(60)

    private init(
        peer: Scenario.Peer,
        process: PeerProcess,
        path: EmulatedPath,
        dialAddress: SocketAddress,
        peerID: PeerID,
        announcement: PeerAnnouncement
    ) {
        self.peer = peer
        self.process = process
        self.path = path
        self.dialAddress = dialAddress
        self.peerID = peerID
        self.announcement = announcement
    }

    /// Starts `peer`'s adapter as a listener offering Noise and TLS on the path's listener side and
    /// waits for its start-up line.
    ///
    /// - Throws: ``UpgradeBenchError`` `.peerUnavailable` or `.peerFailed`.
    static func start(peer: Scenario.Peer, executable: String, path: EmulatedPath) async throws -> ForeignListener {
        let process = try await PeerProcess.start(
            executable,
            ["listen", "--listen", "/ip4/\(path.listenerHost)/tcp/0", "--security", "noise,tls"],
            on: .listener,
            of: path
        )
        do {
            let line = try await process.nextLine(timeout: Self.startTimeout)
            let announcement = try PeerAnnouncement(parsing: line, from: process.description)
            let dialAddress = try path.exposeListener(port: announcement.multiaddr.port)
            guard let peerID = announcement.multiaddr.peerID else {
                throw UpgradeBenchError.peerFailed("\(process.description): start-up multiaddr has no /p2p/: \(line)")
            }
            return ForeignListener(
                peer: peer,
                process: process,
                path: path,
                dialAddress: dialAddress,
                peerID: peerID,
                announcement: announcement
            )
        } catch {
            await process.stop()
            throw error
        }
    }

    /// Stops the adapter (it prints its summary) and releases the relay frontend, if any.
    func stop() async {
        await self.process.stop()
        self.path.releaseExposedListener(self.dialAddress)
    }
}

/// An adapter's start-up line: `{"multiaddr", "peer_id", "impl", "version", "early"}`.
public struct PeerAnnouncement: Sendable, Hashable {
    /// Where it listens, with `/p2p/<peer ID>`.
    public var multiaddr: Multiaddr
    /// The implementation's name, e.g. `go`.
    public var implementation: String
    /// Its version, e.g. `go-libp2p v0.32.1`.
    public var version: String
    /// Whether it offers early muxer negotiation.
    public var offersEarlyMuxer: Bool

    /// Parses the line; `source` names the adapter in errors.
    init(parsing line: String, from source: String) throws {
        guard let object = PeerProcess.object(line), let text = object["multiaddr"] as? String else {
            throw UpgradeBenchError.peerFailed("\(source): start-up line is not {\"multiaddr\": ...}: \(line.prefix(300))")
        }
        do {
            self.multiaddr = try Multiaddr(parsing: text)
        } catch {
            throw UpgradeBenchError.peerFailed("\(source): start-up multiaddr \(text): \(error)")
        }
        self.implementation = object["impl"] as? String ?? "unknown"
        self.version = object["version"] as? String ?? "unknown"
        self.offersEarlyMuxer = object["early"] as? Bool ?? false
    }
}

extension PeerAdapters {
    /// Starts `peer`'s adapter once as a listener on loopback and returns how it announced itself:
    /// before anything is measured, this proves the adapter runs and records its version.
    ///
    /// - Throws: ``UpgradeBenchError`` `.peerUnavailable` or `.peerFailed`.
    public func describe(_ peer: Scenario.Peer, executable: String) async throws -> RunMetadata.PeerRecord {
        let path = try await NetworkEmulator.start(.kind(.none), rtt: .zero)
        defer { path.stop() }
        let listener = try await ForeignListener.start(peer: peer, executable: executable, path: path)
        await listener.stop()
        let announcement = listener.announcement
        return RunMetadata.PeerRecord(
            name: peer.rawValue,
            implementation: announcement.implementation,
            version: announcement.version,
            offersEarlyMuxer: announcement.offersEarlyMuxer
        )
    }
}
