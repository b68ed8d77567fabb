import FuzzSupport
import Multistream
import NIOCore
import P2PCore

/// The multistream-select dialer state machine, as a listener's bytes drive it: the first byte
/// picks the configuration (strict or lazy, `ls` first or not, how many candidates), the rest is
/// fed in chunks whose lengths the input also picks. After the end of negotiation or an error the
/// machine takes no more input; the leftover it hands on must be bytes it was given.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultistreamDialer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let configuration = input.byte()
    let candidates: [ProtocolID] = [.noise, .tls, .yamux, .mplex]
    let count = Int(configuration & 0x3) + 1
    var dialer = MultistreamDialerStateMachine(
        protocols: Array(candidates.prefix(count)),
        mode: configuration & 0x4 == 0 ? .strict : .lazy,
        requestsProtocolList: configuration & 0x8 != 0
    )
    var output = ByteBuffer()
    _ = dialer.start(output: &output)
    var fed = 0
    while !input.isEmpty {
        let chunk = input.chunk()
        fed += chunk.count
        output.clear()
        let action: MultistreamDialerStateMachine.ReceivedBytesAction
        do {
            action = try dialer.receivedBytes(ByteBuffer(bytes: chunk), output: &output)
        } catch {
            // Failed for good; further input is a programming error (a precondition).
            _ = try? dialer.inputClosed()
            return 0
        }
        switch action {
        case .wait, .send, .sendAndProceedOptimistically:
            continue
        case .negotiated(let id, let leftover), .confirmed(let id, let leftover):
            fuzzCheck(candidates.prefix(count).contains(id), "negotiated \(id), which was never proposed")
            fuzzCheck((leftover?.readableBytes ?? 0) <= fed, "leftover longer than the input")
            return 0
        }
    }
    _ = try? dialer.inputClosed()
    return 0
}
