import Multistream
import NIOCore
import P2PCore
import Testing

/// How bytes travel between the two machines.
enum Delivery: String, CaseIterable, CustomTestStringConvertible {
    /// Everything in flight at once.
    case whole
    /// One byte per call.
    case oneByteAtATime

    var testDescription: String { self.rawValue }
}

/// Runs a dialer and a listener state machine back to back in memory, as the wire would, with a
/// next layer on each side that speaks as soon as it may:
/// - the dialer's next layer sends `dialerPayload` when the dialer negotiated, or at once when it
///   proceeds optimistically (lazy mode: the payload follows the proposal in the same flight);
/// - the listener's next layer sends `listenerPayload` right behind the echo.
/// Each side's next layer records what reaches it: the `leftover` of the machine, then later bytes.
struct MachinePump {
    var dialer: MultistreamDialerStateMachine
    var listener: MultistreamListenerStateMachine
    let delivery: Delivery
    var dialerPayload = ByteBuffer(string: "<noise msg1 from dialer>")
    var listenerPayload = ByteBuffer(string: "<noise msg2 from listener>")

    private(set) var dialerResult: Result<ProtocolID, MultistreamError>?
    private(set) var listenerResult: Result<ProtocolID, MultistreamError>?
    /// The dialer proceeded optimistically with this protocol (lazy mode).
    private(set) var dialerProceeded: ProtocolID?
    private(set) var dialerNextLayerReceived = ByteBuffer()
    private(set) var listenerNextLayerReceived = ByteBuffer()
    /// Everything each side sent, in order, and each flight (one start or receivedBytes call's output).
    private(set) var dialerSent = ByteBuffer()
    private(set) var listenerSent = ByteBuffer()
    private(set) var dialerFlights: [ByteBuffer] = []
    private(set) var listenerFlights: [ByteBuffer] = []

    private var toListener = ByteBuffer()
    private var toDialer = ByteBuffer()
    private var dialerDone = false
    private var listenerDone = false

    init(dialer: MultistreamDialerStateMachine, listener: MultistreamListenerStateMachine, delivery: Delivery) {
        self.dialer = dialer
        self.listener = listener
        self.delivery = delivery
    }

    mutating func run() {
        var output = ByteBuffer()
        switch self.dialer.start(output: &output) {
        case .send:
            self.dialerSends(output)
        case .sendAndProceedOptimistically(let id):
            self.dialerProceeded = id
            var flight = output
            flight.writeImmutableBuffer(self.dialerPayload)
            self.dialerSends(flight)
        }
        output.clear()
        switch self.listener.start(output: &output) {
        case .send:
            self.listenerSends(output)
        case .wait:
            #expect(output.readableBytes == 0)
        }

        // Bounded: every step moves at least one byte, and the machines send only a few hundred.
        var steps = 0
        while (self.toListener.readableBytes > 0 || self.toDialer.readableBytes > 0) && steps < 100_000 {
            steps += 1
            if self.toListener.readableBytes > 0 { self.deliverToListener() }
            if self.toDialer.readableBytes > 0 { self.deliverToDialer() }
        }
    }

    /// Closes the input of whichever machine is still negotiating.
    mutating func closeInputs() {
        if !self.dialerDone {
            do {
                try self.dialer.inputClosed()
            } catch {
                self.dialerResult = .failure(error)
            }
            self.dialerDone = true
        }
        if !self.listenerDone {
            do {
                try self.listener.inputClosed()
            } catch {
                self.listenerResult = .failure(error)
            }
            self.listenerDone = true
        }
    }

    private static func take(_ buffer: inout ByteBuffer, _ delivery: Delivery) -> ByteBuffer {
        let count = delivery == .whole ? buffer.readableBytes : 1
        return buffer.readSlice(length: count)!
    }

    private mutating func deliverToListener() {
        var chunk = Self.take(&self.toListener, self.delivery)
        if self.listenerDone {
            if self.listenerResult.isSuccess { self.listenerNextLayerReceived.writeBuffer(&chunk) }
            return
        }
        var output = ByteBuffer()
        do {
            switch try self.listener.receivedBytes(chunk, output: &output) {
            case .wait:
                if output.readableBytes > 0 { self.listenerSends(output) }
            case .negotiated(let id, let leftover):
                self.listenerDone = true
                self.listenerResult = .success(id)
                if var leftover { self.listenerNextLayerReceived.writeBuffer(&leftover) }
                // The echo, then the next layer's first bytes.
                output.writeImmutableBuffer(self.listenerPayload)
                self.listenerSends(output)
            }
        } catch {
            self.listenerDone = true
            self.listenerResult = .failure(error)
        }
    }

    private mutating func deliverToDialer() {
        var chunk = Self.take(&self.toDialer, self.delivery)
        if self.dialerDone {
            if self.dialerResult.isSuccess { self.dialerNextLayerReceived.writeBuffer(&chunk) }
            return
        }
        var output = ByteBuffer()
        do {
            switch try self.dialer.receivedBytes(chunk, output: &output) {
            case .wait:
                #expect(output.readableBytes == 0)
            case .send:
                self.dialerSends(output)
            case .sendAndProceedOptimistically(let id):
                self.dialerProceeded = id
                output.writeImmutableBuffer(self.dialerPayload)
                self.dialerSends(output)
            case .negotiated(let id, let leftover):
                self.dialerDone = true
                self.dialerResult = .success(id)
                if var leftover { self.dialerNextLayerReceived.writeBuffer(&leftover) }
                output.writeImmutableBuffer(self.dialerPayload)
                self.dialerSends(output)
            case .confirmed(let id, let leftover):
                self.dialerDone = true
                self.dialerResult = .success(id)
                if var leftover { self.dialerNextLayerReceived.writeBuffer(&leftover) }
                #expect(output.readableBytes == 0)
            }
        } catch {
            self.dialerDone = true
            self.dialerResult = .failure(error)
        }
    }

    private mutating func dialerSends(_ bytes: ByteBuffer) {
        self.dialerFlights.append(bytes)
        self.dialerSent.writeImmutableBuffer(bytes)
        self.toListener.writeImmutableBuffer(bytes)
    }

    private mutating func listenerSends(_ bytes: ByteBuffer) {
        self.listenerFlights.append(bytes)
        self.listenerSent.writeImmutableBuffer(bytes)
        self.toDialer.writeImmutableBuffer(bytes)
    }
}

extension Optional where Wrapped == Result<ProtocolID, MultistreamError> {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
    var protocolID: ProtocolID? {
        if case .success(let id) = self { return id }
        return nil
    }
    var errorCode: MultistreamError.Code? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
    var error: MultistreamError? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
