import FuzzSupport
import Multistream
import NIOCore
import P2PCore

/// The multistream-select listener state machine, as a dialer's bytes drive it: the first bytes
/// pick the configuration (header first or not, `ls` answered or not, the proposal bound), the
/// rest is fed in chunks whose lengths the input also picks. A negotiated protocol must be one it
/// supports, and the leftover must be bytes it was given.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultistreamListener(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let configuration = input.byte()
    let supported: [ProtocolID] = [.noise, .tls, .yamux, .mplex]
    let count = Int(configuration & 0x3) + 1
    var listener = MultistreamListenerStateMachine(
        protocols: Array(supported.prefix(count)),
        sendsHeaderImmediately: configuration & 0x4 == 0,
        answersListRequests: configuration & 0x8 == 0,
        maximumProposals: Int(configuration >> 4) + 1
    )
    var output = ByteBuffer()
    _ = listener.start(output: &output)
    var fed = 0
    var sent = 0
    while !input.isEmpty {
        let chunk = input.chunk()
        fed += chunk.count
        output.clear()
        let action: MultistreamListenerStateMachine.ReceivedBytesAction
        do {
            action = try listener.receivedBytes(ByteBuffer(bytes: chunk), output: &output)
        } catch {
            // Failed for good; further input is a programming error (a precondition).
            _ = try? listener.inputClosed()
            return 0
        }
        sent += output.readableBytes
        // Its answers are bounded by what it was sent (each answer replies to a whole message).
        fuzzCheck(sent <= 64 * (fed + 1) + 2048, "\(sent) bytes of answers to \(fed) bytes")
        switch action {
        case .wait:
            continue
        case .negotiated(let id, let leftover):
            fuzzCheck(supported.prefix(count).contains(id), "negotiated \(id), which is not supported")
            fuzzCheck((leftover?.readableBytes ?? 0) <= fed, "leftover longer than the input")
            return 0
        }
    }
    _ = try? listener.inputClosed()
    return 0
}
