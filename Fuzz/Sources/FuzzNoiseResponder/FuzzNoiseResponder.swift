import FuzzSupport
import NIOCore
import Noise
import NoiseFuzzSupport
import P2PCore

/// The Noise handshake state machine as responder (listener).
///
/// First byte: bit 0 clear feeds the rest as raw bytes, in chunks the input picks (the fixture
/// transcript's messages are valid seeds: the keys are the transcript's); bit 0 set plays an honest
/// initiator whose message 1 payload is the next chunk and whose message 3 payload is the rest,
/// re-signed when bit 1 is set. Bit 2 gives the responder muxers; bit 3 makes it expect a peer ID.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNoiseResponder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    let local = NoiseFuzzPeer.responder
    let remote = NoiseFuzzPeer.initiator
    let expected: PeerID? = flags & 0x8 == 0 ? nil : remote.identity.peerID
    var machine = local.stateMachine(
        role: .responder,
        configuration: local.configuration(muxers: flags & 0x4 != 0, expecting: expected)
    )
    var output = ByteBuffer()
    _ = try? machine.start(into: &output)

    if flags & 0x1 == 0 {
        var buffered = ByteBuffer()
        while !input.isEmpty {
            var chunk = ByteBuffer(bytes: input.chunk())
            buffered.writeBuffer(&chunk)
            while true {
                output.clear()
                let action: NoiseHandshakeStateMachine.ReceivedBytesAction
                do {
                    action = try machine.receivedBytes(&buffered, into: &output)
                } catch {
                    fuzzCheck(output.readableBytes == 0, "a failed step left a reply to send")
                    return 0
                }
                switch action {
                case .needMoreBytes: break
                case .sendMessage: continue
                case .complete(let completion):
                    fuzzCheck(completion.result.remotePeerID == remote.identity.peerID,
                              "completed with \(completion.result.remotePeerID), not the transcript's initiator")
                    return 0
                case .sendMessageAndComplete:
                    fuzzCheck(false, "a responder wrote message 3")
                }
                break
            }
        }
        return 0
    }

    var initiator = NoiseFuzzScriptedPeer(remote, role: .initiator)
    do {
        var message1 = try initiator.message1(payload: input.chunk())
        output.clear()
        guard case .sendMessage = try machine.receivedBytes(&message1, into: &output) else {
            fuzzCheck(false, "message 1 was not answered")
            return 0
        }
    } catch {
        return 0
    }
    // An honest initiator must be able to read the reply.
    do {
        try initiator.read(message2: output)
    } catch {
        fuzzCheck(false, "the responder's message 2 does not decrypt: \(error)")
    }
    var payload = input.rest()
    if flags & 0x2 != 0 { payload = remote.signing(payload: payload) }
    guard var message3 = try? initiator.message3(payload: payload) else { return 0 }
    output.clear()
    if case .complete(let completion)? = try? machine.receivedBytes(&message3, into: &output) {
        fuzzCheck(completion.result.remotePeerID == remote.identity.peerID, "completed with a foreign peer ID")
    }
    return 0
}
