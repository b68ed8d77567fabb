import FuzzSupport
import NIOCore
import Noise
import NoiseFuzzSupport
import P2PCore

/// The Noise handshake state machine as initiator (dialer).
///
/// First byte: bit 0 clear feeds the rest as raw bytes, in chunks the input picks (the fixture
/// transcript's message 2 is a valid seed: the keys are the transcript's); bit 0 set plays an
/// honest responder whose message 2 payload is the rest, re-signed when bit 1 is set. Bit 2 gives
/// the initiator muxers; bits 3 and 4 make it expect the responder's peer ID or another one.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNoiseInitiator(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    let local = NoiseFuzzPeer.initiator
    let remote = NoiseFuzzPeer.responder
    let expected: PeerID? =
        flags & 0x8 == 0 ? nil : (flags & 0x10 == 0 ? remote.identity.peerID : local.identity.peerID)
    var machine = local.stateMachine(
        role: .initiator,
        configuration: local.configuration(muxers: flags & 0x4 != 0, expecting: expected)
    )
    var message1 = ByteBuffer()
    guard (try? machine.start(into: &message1)) != nil else {
        fuzzCheck(false, "the initiator could not write message 1")
        return 0
    }
    var output = ByteBuffer()

    if flags & 0x1 == 0 {
        var buffered = ByteBuffer()
        while !input.isEmpty {
            var chunk = ByteBuffer(bytes: input.chunk())
            buffered.writeBuffer(&chunk)
            output.clear()
            let action: NoiseHandshakeStateMachine.ReceivedBytesAction
            do {
                action = try machine.receivedBytes(&buffered, into: &output)
            } catch {
                fuzzCheck(output.readableBytes == 0, "a failed step left a reply to send")
                return 0
            }
            switch action {
            case .needMoreBytes:
                continue
            case .sendMessageAndComplete(let completion):
                fuzzCheck(completion.result.remotePeerID == remote.identity.peerID,
                          "completed with \(completion.result.remotePeerID), not the transcript's responder")
                fuzzCheck(expected == nil || expected == completion.result.remotePeerID, "peer ID not checked")
                return 0
            case .sendMessage, .complete:
                fuzzCheck(false, "an initiator answered message 2 without completing")
                return 0
            }
        }
        return 0
    }

    var responder = NoiseFuzzScriptedPeer(remote, role: .responder)
    do {
        try responder.read(message1: message1)
    } catch {
        fuzzCheck(false, "the initiator's message 1 does not parse: \(error)")
    }
    var payload = input.rest()
    if flags & 0x2 != 0 { payload = remote.signing(payload: payload) }
    guard var message2 = try? responder.message2(payload: payload) else { return 0 }
    if case .sendMessageAndComplete(let completion)? = try? machine.receivedBytes(&message2, into: &output) {
        fuzzCheck(completion.result.remotePeerID == remote.identity.peerID, "completed with a foreign peer ID")
        fuzzCheck(expected == nil || expected == completion.result.remotePeerID, "peer ID not checked")
    }
    return 0
}
