import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import P2PCore
import Testing
import Upgrader

/// Many upgrades at once over loopback: 1,000 dials, 100 in flight at a time, each upgrading and
/// echoing once, on a two-thread event loop group shared by both sides. None may fail, and the
/// listener must report every one of them as a successful inbound upgrade.
extension UpgradeSocketTests {
    @Suite struct UpgradeLoadTests {
        static let upgrades = 1_000
        static let concurrency = 100

        @Test(arguments: UpgradeSecurity.allCases)
        func thousandConcurrentUpgradesAllSucceed(security: UpgradeSecurity) async throws {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            let baseline = DescriptorInventory.openCount()
            let listenerHost = try UpgradeHost(configuration: UpgradeConfiguration(identity: .generateEd25519(), security: [security]))
            let dialerHost = try UpgradeHost(configuration: UpgradeConfiguration(identity: .generateEd25519(), security: [security]))
            let inbound = InboundUpgrades()
            let listener = try await listenerHost.listen(host: "127.0.0.1", port: 0, group: group, onUpgrade: inbound.onUpgrade)
            let failures = NIOLockedValueBox<[String]>([])
            let expectedPeer = listenerHost.peerID

            try await withThrowingTaskGroup(of: Void.self) { tasks in
                @Sendable func upgradeAndEcho(_ index: Int) async {
                    do {
                        let connection = try await dialerHost.dial(
                            host: "127.0.0.1", port: listener.port, expectedPeer: expectedPeer, group: group
                        )
                        defer { connection.close().whenComplete { _ in } }
                        guard connection.outcome.secureChannel.security == security else {
                            failures.withLockedValue { $0.append("\(index): ran \(connection.outcome.secureChannel.security)") }
                            return
                        }
                        _ = try await connection.echo(payload: ByteBuffer(string: "upgrade \(index)")).get()
                    } catch {
                        failures.withLockedValue { $0.append("\(index): \(error)") }
                    }
                }
                var next = 0
                while next < min(Self.concurrency, Self.upgrades) {
                    let index = next
                    tasks.addTask { await upgradeAndEcho(index) }
                    next += 1
                }
                // Each finished upgrade makes room for the next: 100 in flight until the end.
                while try await tasks.next() != nil, next < Self.upgrades {
                    let index = next
                    tasks.addTask { await upgradeAndEcho(index) }
                    next += 1
                }
            }

            let failed = failures.withLockedValue { $0 }
            #expect(failed.isEmpty, "\(failed.count) of \(Self.upgrades) failed, first: \(failed.prefix(3))")
            // The listener reports an upgrade once it is done with it, which may be a moment after
            // the dialer was.
            let served = await inbound.waitForOutcomes(Self.upgrades, patience: .seconds(10))
            #expect(served.succeeded == Self.upgrades)
            #expect(served.failed == 0)

            let left = await DescriptorInventory.connectionsLeft(port: listener.port, patience: .seconds(5))
            #expect(left.isEmpty, "\(left.count) sockets left on the listener's port")
            try await listener.close()
            try await group.shutdownGracefully()
            let settled = await DescriptorInventory.settledCount(baseline: baseline, slack: 16)
            #expect(settled <= baseline + 16, "descriptors: \(baseline) before, \(settled) after")
        }
    }
}
