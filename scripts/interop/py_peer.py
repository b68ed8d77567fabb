"""A py-libp2p peer for UpgradeBench's interoperability check (scripts/interop.sh).

    py_peer.py listen                      serve /echo/1.0.0; print {"multiaddr", "peer_id"} once listening
    py_peer.py dial MULTIADDR N SECURITY   N connections (SECURITY: noise or tls), one echo stream each;
                                           print one JSON line per connection, then {"summary": ...}

py-libp2p does no early muxer negotiation (its upgrader always runs multistream-select for the
muxer), so against it UpgradeBench must fall back. Exit code 0 when every connection echoed.
"""

import json
import sys

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.security.tls.transport import TLSTransport

ECHO = TProtocol("/echo/1.0.0")
PAYLOAD = b"hello from py-libp2p"
TIMEOUT_SECONDS = 10
LOOPBACK = multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")


async def echo_handler(stream):
    # py-libp2p 0.8.1 ends a stream's reads by raising StreamEOF, not by returning b"". Left uncaught,
    # it cancels the connection's nursery, which interrupts SwarmConn.close() before it removes the
    # connection from the swarm: the per-peer count of established connections is never decremented,
    # and from the 9th connection of one peer on, py refuses it ("Established per peer limit
    # exceeded: 8 >= 8"). README "Against other libp2p implementations" has the evidence.
    # The same goes for anything else a stream the peer has closed raises (a TLS connection already shut
    # down raises ssl.SSLError from close()): it ends this stream, never the host.
    try:
        while True:
            try:
                data = await stream.read(65536)
            except StreamEOF:
                break
            if not data:
                break
            await stream.write(data)
    except Exception as error:  # noqa: BLE001 - a stream's failure ends only that stream
        print(f"py_peer: echo stream ended: {error!r}", file=sys.stderr)
    finally:
        try:
            await stream.close()
        except Exception:  # noqa: BLE001 - closing a stream the peer already closed may fail
            pass


async def listen():
    host = new_host()
    host.set_stream_handler(ECHO, echo_handler)
    async with host.run(listen_addrs=[LOOPBACK]):
        address = str(host.get_addrs()[0])
        print(json.dumps({"multiaddr": address, "peer_id": host.get_id().pretty()}), flush=True)
        await trio.sleep_forever()


async def dial(address, count, security):
    key_pair = create_new_key_pair()
    if security == "noise":
        transport = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
        sec_opt = {TProtocol("/noise"): transport}
    else:
        sec_opt = {TProtocol("/tls/1.0.0"): TLSTransport(key_pair)}
    host = new_host(key_pair=key_pair, sec_opt=sec_opt)
    info = info_from_p2p_addr(multiaddr.Multiaddr(address))
    succeeded = 0
    async with host.run(listen_addrs=[LOOPBACK]):
        for _ in range(count):
            ok, error = False, None
            try:
                with trio.fail_after(TIMEOUT_SECONDS):
                    await host.connect(info)
                    stream = await host.new_stream(info.peer_id, [ECHO])
                    await stream.write(PAYLOAD)
                    reply = b""
                    while len(reply) < len(PAYLOAD):
                        chunk = await stream.read(len(PAYLOAD) - len(reply))
                        if not chunk:
                            break
                        reply += chunk
                    await stream.close()
                    ok = reply == PAYLOAD
                    await host.disconnect(info.peer_id)
            except Exception as exception:  # reported, not raised: the summary counts it
                error = f"{type(exception).__name__}: {exception}"
            succeeded += ok
            print(json.dumps({"ok": ok, "security": security, "error": error}), flush=True)
    print(json.dumps({"summary": {"connections": count, "succeeded": succeeded}}), flush=True)
    return succeeded == count


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "listen":
        trio.run(listen)
    elif len(sys.argv) == 5 and sys.argv[1] == "dial" and sys.argv[4] in ("noise", "tls"):
        sys.exit(0 if trio.run(dial, sys.argv[2], int(sys.argv[3]), sys.argv[4]) else 1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
