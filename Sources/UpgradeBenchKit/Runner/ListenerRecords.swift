import NIOConcurrencyHelpers
import Upgrader

/// The listener's record of every connection it accepted (its socket activity from the accept on,
/// and its upgrade timeline once the upgrade ended), kept until the dialer of the same connection
/// picks it up.
///
/// The two ends of a connection are matched by port: the listener keys its records by the remote
/// port of the accepted socket, which the dialer finds from its own local port through
/// `EmulatedPath.listenerSidePort(ofDialerPort:)` (the same port where the path forwards packets,
/// the relay's port on a relay).
final class ListenerRecords: Sendable {
    /// What the listener knows of one connection.
    struct Record: Sendable {
        /// The socket activity, filled in as the connection goes.
        var activity: WireActivity?
        /// The upgrade's timeline, once the upgrade succeeded or failed.
        var timeline: UpgradeTimeline?
        /// What the upgrade agreed, as the listener saw it (all nil for an upgrade that failed
        /// before any of it was known).
        var path = ConnectionSample.Path()
        /// Why the listener's upgrade failed, if it did.
        var failure: ConnectionSample.Failure?
    }

    /// Records left behind by connections whose dialer never asked (it failed before connecting)
    /// are dropped past this many, oldest first, so a long run cannot grow the table.
    static let capacity = 4096

    private struct Table {
        var byPort: [Int: Record] = [:]
        var order: [Int] = []
        /// Every ended upgrade in the order it ended, for ``takeOldestUpgraded()``: kept apart
        /// from `byPort` because another implementation's dialer may dial every connection from
        /// the same port (go-libp2p binds its listening port with SO_REUSEPORT), so ports do not
        /// tell its connections apart.
        var ended: [Record] = []
    }

    private let table = NIOLockedValueBox(Table())

    /// Starts the record of the connection from `remotePort` with its socket activity.
    func accepted(remotePort: Int, activity: WireActivity) {
        self.update(remotePort) { $0.activity = activity }
    }

    /// Stores the listener's upgrade timeline of the connection from `remotePort`, with what it
    /// agreed or why it failed.
    func upgraded(
        remotePort: Int,
        timeline: UpgradeTimeline,
        path: ConnectionSample.Path = .init(),
        failure: ConnectionSample.Failure? = nil
    ) {
        self.update(remotePort) {
            $0.timeline = timeline
            $0.path = path
            $0.failure = failure
        }
        self.table.withLockedValue { table in
            table.ended.append(Record(activity: nil, timeline: timeline, path: path, failure: failure))
            if table.ended.count > Self.capacity { table.ended.removeFirst() }
        }
    }

    /// Forgets the ended upgrades ``takeOldestUpgraded()`` would return: before another
    /// implementation's dialer starts, so that earlier scenarios' connections are not taken for its.
    func forgetEnded() {
        self.table.withLockedValue { $0.ended.removeAll() }
    }

    /// Removes and returns the oldest record of an upgrade that ended (without its socket
    /// activity): for dialers that cannot say which port they dialed from (another
    /// implementation's), whose connections come one at a time, so that the order upgrades end
    /// in is dial order.
    func takeOldestUpgraded() -> Record? {
        self.table.withLockedValue { table in
            table.ended.isEmpty ? nil : table.ended.removeFirst()
        }
    }

    /// Removes and returns the listener's record of the connection it accepted from `remotePort`,
    /// if there is one.
    func take(remotePort: Int) -> Record? {
        self.table.withLockedValue { table in
            guard let record = table.byPort.removeValue(forKey: remotePort) else { return nil }
            if let index = table.order.firstIndex(of: remotePort) { table.order.remove(at: index) }
            return record
        }
    }

    private func update(_ port: Int, _ change: (inout Record) -> Void) {
        self.table.withLockedValue { table in
            var record: Record
            if let existing = table.byPort[port] {
                record = existing
            } else {
                record = Record()
                table.order.append(port)
            }
            change(&record)
            table.byPort[port] = record
            if table.order.count > Self.capacity {
                let oldest = table.order.removeFirst()
                table.byPort[oldest] = nil
            }
        }
    }
}
