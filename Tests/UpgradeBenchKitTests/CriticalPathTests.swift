import Testing
import UpgradeBenchKit

/// The critical-path walk on hand-made socket records, each a small exchange with known flights and
/// computation (times in µs from the dial, converted to ns).
@Suite struct CriticalPathTests {
    typealias Event = CriticalPath.Event

    static func read(_ microseconds: UInt64) -> Event { Event(kind: .read, nanoseconds: microseconds * 1000) }
    static func write(_ microseconds: UInt64) -> Event { Event(kind: .write, nanoseconds: microseconds * 1000) }
    static func done(_ microseconds: UInt64) -> Event { Event(kind: .readComplete, nanoseconds: microseconds * 1000) }

    static func split(
        stage: UInt64,
        connected: UInt64,
        accepted: UInt64,
        dialer: [Event],
        listener: [Event]
    ) -> CriticalPath.Split? {
        CriticalPath.split(
            stage: stage * 1000,
            start: 0,
            connected: connected * 1000,
            accepted: accepted * 1000,
            dialer: dialer,
            listener: listener
        )
    }

    /// Strict security negotiation over a 10 ms path (5 ms each way): connect, the dialer proposes
    /// at once, the listener writes its header on accept and the echo after 40 µs, the dialer has
    /// agreed when the echo arrives.
    @Test func strictNegotiationIsTwoRoundTripsOfNetwork() throws {
        let dialer = [Self.write(10_030), Self.read(20_050), Self.done(20_080)]
        let listener = [Self.write(15_010), Self.read(15_040), Self.write(15_080), Self.done(15_090)]
        // The echo left at 15 080 and arrived at 20 080 (the read burst began with the header at 20 050,
        // but the stage is when the echo was processed).
        let split = try #require(
            Self.split(stage: 20_080, connected: 10_000, accepted: 15_005, dialer: dialer, listener: listener)
        )
        #expect(split.flights == 4)
        // Connect 10 000, proposal 10 030 → 15 040 (5 010), echo 15 080 → 20 050 (4 970).
        #expect(split.networkNanoseconds == (10_000 + 5_010 + 4_970) * 1000)
        #expect(split.dialerComputeNanoseconds == (30 + 30) * 1000)
        #expect(split.listenerComputeNanoseconds == 40 * 1000)
        #expect(
            split.networkNanoseconds + split.dialerComputeNanoseconds + split.listenerComputeNanoseconds
                == 20_080 * 1000,
            "the walk covers the whole interval"
        )
    }

    /// A lazy dialer writes the proposal and the first handshake message without reading anything:
    /// the listener's answer is one round trip after the connect.
    @Test func lazyWritesThatWaitForNothingEndTheWalkAtTheConnect() throws {
        let dialer = [Self.write(10_020), Self.write(10_300), Self.read(20_700), Self.write(20_880), Self.done(20_900)]
        let listener = [
            Self.write(15_005), Self.read(15_030), Self.done(15_040), Self.read(15_310), Self.write(15_700),
            Self.done(15_710),
        ]
        let split = try #require(
            Self.split(stage: 20_900, connected: 10_000, accepted: 15_000, dialer: dialer, listener: listener)
        )
        #expect(split.flights == 4)
        // Connect, then 10 300 → 15 310 and 15 700 → 20 700.
        #expect(split.networkNanoseconds == (10_000 + 5_010 + 5_000) * 1000)
        #expect(split.listenerComputeNanoseconds == 390 * 1000)
        #expect(split.dialerComputeNanoseconds == (300 + 200) * 1000)
    }

    /// The listener verifies a signature for 900 µs after reading the handshake's last message; the
    /// stream's first bytes, sent right behind it, wait in the socket meanwhile and are read right
    /// after. Their wait is the listener's computation, not the network's.
    @Test func bytesThatWaitedWhileTheSideWasBusyCountAsItsComputation() throws {
        let dialer = [Self.write(30_000), Self.write(30_040), Self.read(40_960), Self.done(41_000)]
        let listener = [Self.read(35_000), Self.done(35_900), Self.read(35_905), Self.write(35_950), Self.done(35_960)]
        let split = try #require(
            Self.split(stage: 41_000, connected: 10_000, accepted: 15_000, dialer: dialer, listener: listener)
        )
        // Walk: dialer read 40 960 ← listener write 35 950 ← listener busy since 35 000 (the read at
        // 35 905 began 5 µs after the burst read at 35 000 was processed) ← dialer write 30 040,
        // before which the dialer read nothing since the connect.
        #expect(split.listenerComputeNanoseconds == 950 * 1000)
        #expect(split.networkNanoseconds == (10_000 + (35_000 - 30_040) + (40_960 - 35_950)) * 1000)
        #expect(split.flights == 4)
    }

    /// A read long after the side's previous burst is a new arrival, not bytes that waited.
    @Test func aReadAfterAnIdleGapStartsANewBusyPeriod() throws {
        let dialer = [Self.write(10_010), Self.write(20_100), Self.read(30_200), Self.done(30_220)]
        let listener = [
            Self.read(15_010), Self.write(15_020), Self.done(15_030), Self.read(25_100), Self.write(25_150),
            Self.done(25_160),
        ]
        let split = try #require(
            Self.split(stage: 30_220, connected: 10_000, accepted: 15_000, dialer: dialer, listener: listener)
        )
        // The dialer's write at 20 100 waited for nothing it read: the walk ends at the connect.
        #expect(split.listenerComputeNanoseconds == 50 * 1000)
        #expect(split.flights == 4)
        #expect(split.networkNanoseconds == (10_000 + 5_000 + 5_050) * 1000)
    }

    /// The listener's first writes (a multistream header on accept) answer the accept itself.
    @Test func listenerWritesBeforeAnyReadGoBackToTheAccept() throws {
        let dialer = [Self.read(20_020), Self.done(20_030)]
        let listener = [Self.write(15_010)]
        let split = try #require(
            Self.split(stage: 20_030, connected: 10_000, accepted: 15_000, dialer: dialer, listener: listener)
        )
        // Connect (2 flights), the last ACK to the accept (1), the header back (1).
        #expect(split.flights == 4)
        #expect(split.listenerComputeNanoseconds == 10 * 1000)
        #expect(split.networkNanoseconds == (10_000 + 5_000 + 5_010) * 1000)
    }

    @Test func unexplainableRecordsGiveNoSplit() {
        // A listener record from before the accept (another connection's).
        #expect(
            Self.split(
                stage: 20_000, connected: 10_000, accepted: 15_000,
                dialer: [Self.read(19_000)], listener: [Self.write(9_000)]
            ) == nil
        )
        // The dialer read something no listener write can have sent.
        #expect(
            Self.split(stage: 20_000, connected: 10_000, accepted: 15_000, dialer: [Self.read(19_000)], listener: [])
                == nil
        )
        // A stage before the connect completed.
        #expect(Self.split(stage: 5_000, connected: 10_000, accepted: 15_000, dialer: [], listener: []) == nil)
    }

    @Test func atLoopbackAnAcceptBeforeTheDialersConnectCountsNoFlightTime() throws {
        let split = try #require(
            Self.split(stage: 60, connected: 40, accepted: 35, dialer: [Self.read(55)], listener: [Self.write(45)])
        )
        #expect(split.networkNanoseconds == (40 + 10) * 1000)
        #expect(split.listenerComputeNanoseconds == 10 * 1000)
    }
}
