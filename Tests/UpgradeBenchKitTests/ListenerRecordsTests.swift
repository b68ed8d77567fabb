import NIOCore
import NetworkEmulation
import Testing
import Upgrader

@testable import UpgradeBenchKit

/// The listener's records of its connections, until the dialer of each picks its own up.
@Suite struct ListenerRecordsTests {
    @Test func aRecordIsTakenOnceByItsPort() {
        let records = ListenerRecords()
        let activity = WireActivity()
        activity.record(.read, at: .uptimeNanoseconds(5))
        records.accepted(remotePort: 40_001, activity: activity)
        records.upgraded(remotePort: 40_001, timeline: UpgradeTimeline(start: .uptimeNanoseconds(3)))
        #expect(records.take(remotePort: 40_002) == nil)
        let record = records.take(remotePort: 40_001)
        #expect(record?.activity?.events == [CriticalPath.Event(kind: .read, nanoseconds: 5)])
        #expect(record?.timeline?.start == .uptimeNanoseconds(3))
        #expect(records.take(remotePort: 40_001) == nil, "taken once")
    }

    /// go-libp2p dials every connection from its listening port (SO_REUSEPORT): upgrades that
    /// ended are still taken one by one, in the order they ended, and only this scenario's.
    @Test func upgradesFromOnePortAreTakenInTheOrderTheyEnded() {
        let records = ListenerRecords()
        records.upgraded(remotePort: 4001, timeline: UpgradeTimeline(start: .uptimeNanoseconds(1)))
        records.forgetEnded()
        for start in [10, 20, 30] as [UInt64] {
            records.accepted(remotePort: 4001, activity: WireActivity())
            records.upgraded(
                remotePort: 4001,
                timeline: UpgradeTimeline(start: .uptimeNanoseconds(start)),
                path: .init(security: .noise, muxer: "/yamux/1.0.0", earlyMuxerNegotiation: start == 20)
            )
        }
        #expect(records.takeOldestUpgraded()?.timeline?.start == .uptimeNanoseconds(10))
        let second = records.takeOldestUpgraded()
        #expect(second?.timeline?.start == .uptimeNanoseconds(20))
        #expect(second?.path.earlyMuxerNegotiation == true)
        #expect(records.takeOldestUpgraded()?.timeline?.start == .uptimeNanoseconds(30))
        #expect(records.takeOldestUpgraded() == nil)
    }

    @Test func recordsNobodyTakesAreDroppedOldestFirst() {
        let records = ListenerRecords()
        for port in 0..<(ListenerRecords.capacity + 10) {
            records.accepted(remotePort: port, activity: WireActivity())
        }
        #expect(records.take(remotePort: 0) == nil)
        #expect(records.take(remotePort: 9) == nil)
        #expect(records.take(remotePort: 10) != nil)
        #expect(records.take(remotePort: ListenerRecords.capacity + 9) != nil)
    }

    @Test func aConnectionsActivityIsBounded() {
        let activity = WireActivity()
        for index in 0..<(WireActivity.capacity * 2) {
            activity.record(.write, at: .uptimeNanoseconds(UInt64(index)))
        }
        #expect(activity.events.count == WireActivity.capacity)
        #expect(activity.events.last?.nanoseconds == UInt64(WireActivity.capacity - 1), "the first events are kept")
    }

    @Test func emulatorLoadIsTheScenariosShareOfThePathsTotals() throws {
        let scenario = Scenario.test(.noise, .early, rtt: 10)
        var before = NetworkEmulatorStatistics()
        before.forwarded = 100
        before.meanLateness = .nanoseconds(20_000)
        before.cpuTime = .milliseconds(30)
        var after = before
        after.forwarded = 300
        // 100 packets at 20 µs, then 200 more at 50 µs: 40 µs mean overall.
        after.meanLateness = .nanoseconds(40_000)
        after.maximumLateness = .nanoseconds(700_000)
        after.cpuTime = .milliseconds(80)
        let load = try #require(
            BenchRunner.load(
                of: scenario,
                from: (before, .uptimeNanoseconds(1_000_000_000)),
                to: (after, .uptimeNanoseconds(3_000_000_000))
            )
        )
        #expect(load.scenario == scenario.name)
        #expect(load.forwarded == 200)
        #expect(abs(load.meanLatenessMicroseconds - 50) < 1e-9)
        #expect(load.maximumLatenessMicroseconds == 700)
        #expect(abs(load.cpuSeconds - 0.05) < 1e-12)
        #expect(abs(load.cpuShare - 0.025) < 1e-12)
        // A path without an emulator thread has no load.
        #expect(
            BenchRunner.load(
                of: scenario,
                from: (NetworkEmulatorStatistics(), .uptimeNanoseconds(0)),
                to: (NetworkEmulatorStatistics(), .uptimeNanoseconds(1))
            ) == nil
        )
    }
}
