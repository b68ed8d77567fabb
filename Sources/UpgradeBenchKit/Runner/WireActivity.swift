import NIOConcurrencyHelpers
import NIOCore

/// When one end of a connection read bytes from its socket and when it wrote bytes to it: the raw
/// material of ``CriticalPath``.
///
/// A ``WireActivityRecorder`` at the socket end of a pipeline fills it in; any thread may read a
/// snapshot. It holds at most ``capacity`` events: an upgrade and its first stream take a dozen or
/// so, and a connection that goes on (a throughput transfer) simply stops being recorded.
public final class WireActivity: Sendable {
    /// Events kept per connection and side.
    public static let capacity = 128

    private let box = NIOLockedValueBox<[CriticalPath.Event]>([])

    /// An empty record.
    public init() {
        self.box.withLockedValue { $0.reserveCapacity(Self.capacity) }
    }

    /// Appends an event unless the record is full.
    public func record(_ kind: CriticalPath.Event.Kind, at time: NIODeadline) {
        self.box.withLockedValue { events in
            guard events.count < Self.capacity else { return }
            events.append(CriticalPath.Event(kind: kind, nanoseconds: time.uptimeNanoseconds))
        }
    }

    /// The events so far, in the order they happened.
    public var events: [CriticalPath.Event] { self.box.withLockedValue { $0 } }
}

/// Timestamps the reads and writes of a channel where they meet the socket: the first
/// `channelRead` of every read burst (bytes arrived and the event loop got to them), the end of
/// the burst's processing (`channelReadComplete`, after the layers above have handled it), and
/// every `flush` that carries writes (bytes handed to the kernel).
///
/// Add it first in the pipeline, before the upgrade's handlers, so that it sits next to the
/// socket and sees every byte of every layer. It only reads the clock and appends to a small
/// array: about 50 ns per event, against tens of microseconds between events.
public final class WireActivityRecorder: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let activity: WireActivity
    private var inReadBurst = false
    private var hasUnflushedWrites = false

    /// A recorder filling in `activity`.
    public init(activity: WireActivity) {
        self.activity = activity
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !self.inReadBurst {
            self.inReadBurst = true
            self.activity.record(.read, at: .now())
        }
        context.fireChannelRead(data)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        // After the burst was processed: the layers above handle `channelRead` synchronously.
        context.fireChannelReadComplete()
        if self.inReadBurst {
            self.inReadBurst = false
            self.activity.record(.readComplete, at: .now())
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        self.hasUnflushedWrites = true
        context.write(data, promise: promise)
    }

    public func flush(context: ChannelHandlerContext) {
        if self.hasUnflushedWrites {
            self.hasUnflushedWrites = false
            self.activity.record(.write, at: .now())
        }
        context.flush()
    }
}

@available(*, unavailable)
extension WireActivityRecorder: Sendable {}
