/// Splits the time a dialer took to reach a stage into time on the network and time computing, by
/// following the connection's critical path backwards through both ends' socket activity.
///
/// ### Why
/// ``RoundTripReport`` counts round trips as `(median at r − median at loopback) / r`: it assumes
/// the computation costs the same at both. On the virtual machines this suite runs on it does not:
/// code that runs after the thread slept through a network round trip finds cold caches and
/// predictors and runs two to three times slower than back-to-back (docs/machine.md, "Compute
/// after an idle wait"). Subtracting a warm loopback baseline then leaves that extra computation
/// in the "round trips". Reading both ends' activity instead measures the network directly, in the
/// same run and under the same conditions.
///
/// ### The walk
/// Both ends record when they read bytes from the socket and when they wrote bytes to it
/// (``WireActivityRecorder``), on one monotonic clock. Starting from the dialer at the stage:
///
/// 1. On the current side at time `t`, the last read at or before `t` is what the side was
///    waiting for: `t − read` is computation on that side. A read that began within
///    ``busyGapNanoseconds`` of the end of the side's previous read burst found its bytes
///    already waiting while the side was busy with that burst (the Noise or TLS listener
///    verifying a signature while the next segment arrives), so the side's busy period is taken
///    back to the start of that earlier burst: its bytes arrived on the path no later.
/// 2. The other side's last write at or before that read is what arrived: `read − write` is a
///    flight (bytes on the path, including the receiver's wake-up).
/// 3. Continue on the other side from that write.
///
/// The walk ends on the dialer when it has no read left after the TCP connect completed (what it
/// did from `connected` on is computation, and the connect itself is one round trip on the
/// network), or on the listener when it has no read left (its writes then started at the accept,
/// which the dialer's connect caused: one more flight). Network and computation add up exactly to
/// the stage's time: the walk covers the interval from the dial to the stage without gaps.
///
/// With one connection in flight, the last read before a write is what caused it: every protocol
/// here answers the bytes it just received, and a lazy dialer's writes that wait for nothing find
/// no read before them. Under concurrency the flights also hold the time a ready event loop spent
/// on other connections before it read, so the split is not a round-trip count there.
public enum CriticalPath {
    /// One socket event of one end.
    public struct Event: Hashable, Sendable {
        /// What happened (the raw values name it in trace files).
        public enum Kind: String, Hashable, Sendable, Codable {
            /// Bytes were read (the first read of a burst).
            case read
            /// Bytes were written (a flush that carried writes).
            case write
            /// A read burst was processed (`channelReadComplete`).
            case readComplete = "read_complete"
        }

        /// What happened.
        public let kind: Kind
        /// When, in `CLOCK_MONOTONIC` nanoseconds (`NIODeadline.uptimeNanoseconds`).
        public let nanoseconds: UInt64

        /// Creates an event.
        public init(kind: Kind, nanoseconds: UInt64) {
            self.kind = kind
            self.nanoseconds = nanoseconds
        }
    }

    /// The walk's result for one stage.
    public struct Split: Hashable, Sendable {
        /// Time in flight on the path, including the connect, nanoseconds.
        public var networkNanoseconds: UInt64
        /// Time the dialer spent between receiving and sending on the path, nanoseconds.
        public var dialerComputeNanoseconds: UInt64
        /// Time the listener spent between receiving and sending on the path, nanoseconds.
        public var listenerComputeNanoseconds: UInt64
        /// One-way trips on the path, the connect counting two.
        public var flights: Int
    }

    /// How soon after the end of a read burst the next read must begin to count as bytes that
    /// waited while the side was busy: 50 µs, longer than an event loop takes to come back to a
    /// socket that is still readable (about 5–10 µs here) and far shorter than any emulated flight
    /// (half the RTT, 2.5 ms at the smallest preset RTT). At loopback a flight can be shorter, so
    /// loopback splits may put up to that much of a flight under computation.
    public static let busyGapNanoseconds: UInt64 = 50_000

    /// The most steps a walk takes: far more than any upgrade has flights, so a pathological
    /// record cannot make it loop for long.
    static let maximumSteps = 256

    /// Splits the time from `start` (the dial) to `stage` (the dialer reached the stage).
    ///
    /// - Parameters:
    ///   - stage: When the dialer reached the stage.
    ///   - start: When the dial started.
    ///   - connected: When the dialer's TCP connect completed.
    ///   - accepted: When the listener accepted the connection.
    ///   - dialer: The dialer's events, in time order.
    ///   - listener: The listener's events, in time order.
    /// - Returns: The split, or `nil` when the events cannot explain the stage (a record that is
    ///   missing, full, or out of order with the timestamps).
    /// - Parameter connectNetworkNanoseconds: How much of the connect (`start` to `connected`)
    ///   was on the path, when the dialer knows it better than "all of it": `bench dial` reads the
    ///   kernel's round-trip sample of the SYN from `TCP_INFO`, because its connect interval also
    ///   holds the event loop's channel set-up, and a local relay does not delay the connect at
    ///   all. `nil` counts the whole connect as network (an emulator's connect, timed around
    ///   `connect(2)` itself).
    public static func split(
        stage: UInt64,
        start: UInt64,
        connected: UInt64,
        accepted: UInt64,
        dialer: [Event],
        listener: [Event],
        connectNetworkNanoseconds: UInt64? = nil
    ) -> Split? {
        guard start <= connected, connected <= stage else { return nil }
        var split = Split(networkNanoseconds: 0, dialerComputeNanoseconds: 0, listenerComputeNanoseconds: 0, flights: 0)
        let connect = connected - start
        let connectNetwork = min(connect, connectNetworkNanoseconds ?? connect)
        var onDialer = true
        var time = stage
        for _ in 0..<Self.maximumSteps {
            let events = onDialer ? dialer : listener
            let floor = onDialer ? connected : accepted
            // Nothing on this side happens before its connect or accept: a record that says so
            // is not from this connection.
            guard time >= floor else { return nil }
            guard var read = Self.last(.read, in: events, atOrBefore: time), read >= floor else {
                if onDialer {
                    // Computation since the connect completed; the connect is one round trip.
                    split.dialerComputeNanoseconds += time - connected + (connect - connectNetwork)
                    split.networkNanoseconds += connectNetwork
                    split.flights += 2
                } else {
                    // The listener's writes since the accept; the accept followed the dialer's
                    // connect by one flight (the handshake's last ACK).
                    split.listenerComputeNanoseconds += time - accepted
                    // At loopback the listener may see the accept a hair before the dialer reads
                    // its own connect's completion: that flight is then zero, not negative.
                    split.networkNanoseconds += accepted > connected ? accepted - connected : 0
                    split.flights += 1
                    split.dialerComputeNanoseconds += connect - connectNetwork
                    split.networkNanoseconds += connectNetwork
                    split.flights += 2
                }
                return split
            }
            // Bytes that waited while the side was busy: its busy period started earlier.
            while let completed = Self.last(.readComplete, in: events, before: read),
                read - completed <= Self.busyGapNanoseconds,
                let earlier = Self.last(.read, in: events, atOrBefore: completed), earlier >= floor
            {
                read = earlier
            }
            if onDialer {
                split.dialerComputeNanoseconds += time - read
            } else {
                split.listenerComputeNanoseconds += time - read
            }
            let other = onDialer ? listener : dialer
            guard let write = Self.last(.write, in: other, atOrBefore: read) else { return nil }
            split.networkNanoseconds += read - write
            split.flights += 1
            time = write
            onDialer.toggle()
        }
        return nil
    }

    /// Splits every stage in `stages` (each a `CLOCK_MONOTONIC` time in nanoseconds); stages the
    /// records cannot explain are left out.
    public static func splits(
        stages: [ConnectionStage: UInt64],
        start: UInt64,
        connected: UInt64,
        accepted: UInt64,
        dialer: [Event],
        listener: [Event],
        connectNetworkNanoseconds: UInt64? = nil
    ) -> [ConnectionStage: Split] {
        var splits: [ConnectionStage: Split] = [:]
        for (stage, time) in stages {
            splits[stage] = Self.split(
                stage: time,
                start: start,
                connected: connected,
                accepted: accepted,
                dialer: dialer,
                listener: listener,
                connectNetworkNanoseconds: connectNetworkNanoseconds
            )
        }
        return splits
    }

    /// The time of the last event of `kind` at or before `time`.
    static func last(_ kind: Event.Kind, in events: [Event], atOrBefore time: UInt64) -> UInt64? {
        var found: UInt64? = nil
        for event in events where event.kind == kind {
            guard event.nanoseconds <= time else { break }
            found = event.nanoseconds
        }
        return found
    }

    /// The time of the last event of `kind` strictly before `time`.
    static func last(_ kind: Event.Kind, in events: [Event], before time: UInt64) -> UInt64? {
        var found: UInt64? = nil
        for event in events where event.kind == kind {
            guard event.nanoseconds < time else { break }
            found = event.nanoseconds
        }
        return found
    }
}
