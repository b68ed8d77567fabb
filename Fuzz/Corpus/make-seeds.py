#!/usr/bin/env python3
"""Writes the seed corpora of the fuzzers (Fuzz/Corpus/<target>/seed-*) from the test vectors in
Tests/Fixtures and the byte strings of the unit tests, in each target's input format (the first
byte is the target's configuration; see the comment on each target's LLVMFuzzerTestOneInput).

Run from anywhere: python3 Fuzz/Corpus/make-seeds.py. It rewrites only files named seed-*, so the
inputs libFuzzer adds to a corpus stay."""

import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "Fuzz" / "Corpus"
FIXTURES = ROOT / "Tests" / "Fixtures"


def load(name):
    return json.loads((FIXTURES / name).read_text())


def h(text):
    return bytes.fromhex(text)


def uvarint(value):
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def ms(text):
    """One multistream-select message."""
    body = text.encode() + b"\n"
    return uvarint(len(body)) + body


def der_length(n):
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def der(tag, content):
    return bytes([tag]) + der_length(len(content)) + content


def write(target, seeds):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("seed-*"):
        old.unlink()
    for index, seed in enumerate(seeds):
        (directory / f"seed-{index:03d}").write_bytes(bytes(seed))


wire = load("wire_examples.json")
keys = load("libp2p_peer_id_keys.json")["keys"]
certificates = load("libp2p_tls_certificates.json")["certificates"]
transcript = load("derived_libp2p_noise_xx_early_muxer_transcript.json")

# Varints: limit byte 0 (the format's maximum), then the examples, alone and back to back.
varints = [h(v["hex"]) for v in wire["unsigned_varint"]["valid"] + wire["unsigned_varint"]["invalid"]]
write("FuzzVarint", [b"\x00" + v for v in varints] + [b"\x00" + b"".join(varints), b"\x85" + h("ac02")])

# Multiaddr text, as the unit tests write it.
peer = next(k["derived_peer_id_base58"] for k in keys if k["kind"] == "public" and k["key_type"] == "ED25519")
addresses = [
    "/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001", "/dns/localhost/tcp/4001", "/dns4/localhost/tcp/65535",
    "/dns6/example.com/tcp/1/", f"/ip4/127.0.0.1/tcp/4001/p2p/{peer}", f"/ip4/127.0.0.1/tcp/1/ipfs/{peer}",
    "/ip6/::ffff:127.0.0.1/tcp/1", "/ip4/127.0.0.1/udp/1", "/ip4/01.0.0.1/tcp/1",
]
write("FuzzMultiaddr", [a.encode() for a in addresses])

# Peer IDs and keys: mode 0 key protobufs, mode 1 multihashes, mode 2 texts.
peer_seeds = []
for key in keys:
    if key["kind"] != "public":
        continue
    peer_seeds.append(b"\x00" + h(key["protobuf_hex"]))
    if key.get("derived_peer_id_base58"):
        peer_seeds.append(b"\x02" + key["derived_peer_id_base58"].encode())
    encoded = h(key["protobuf_hex"])
    if len(encoded) <= 42:  # inlined (identity multihash), else sha2-256
        peer_seeds.append(b"\x01" + bytes([0x00, len(encoded)]) + encoded)
    else:
        peer_seeds.append(b"\x01" + bytes([0x12, 0x20]) + hashlib.sha256(encoded).digest())
for name in ("initiator", "responder"):
    peer_seeds.append(b"\x02" + transcript[name]["peer_id"].encode())
peer_seeds.append(b"\x01" + bytes([0x12, 0x20]) + bytes(range(32)))
peer_seeds.append(b"\x02bafzaajaiaejca" + b"a" * 40)
write("FuzzPeerID", peer_seeds)

# multistream-select messages: the fixture examples, and an ls response.
messages = [h(m["hex"]) for m in wire["multistream_select"]]
write("FuzzMultistreamMessage", [b"\x00" + m for m in messages] + [b"\x85" + ms("/noise")])

header = ms("/multistream/1.0.0")
# Dialer: configuration byte, then one chunk with everything (255), or byte-sized chunks.
dialer = [
    [0x00, 255] + list(header + ms("/noise")),
    [0x01, 255] + list(header + ms("na") + ms("/tls/1.0.0") + b"\x00\x20trailing"),
    [0x04, 255] + list(header + ms("/noise") + b"\x00\x20"),
    [0x0B, 255] + list(header + h("17072f6e6f6973650a0d2f79616d75782f312e302e300a0a") + ms("/noise")),
    [0x03, 5] + list(header[:5]) + [255] + list(header[5:] + ms("na") + ms("na") + ms("/yamux/1.0.0")),
]
write("FuzzMultistreamDialer", dialer)
listener = [
    [0x00, 255] + list(header + ms("/noise")),
    [0x03, 255] + list(header + ms("/quic") + ms("/yamux/1.0.0") + b"\x00\x01\x00\x01"),
    [0x01, 255] + list(header + ms("ls") + ms("/tls/1.0.0")),
    [0x09, 255] + list(header + ms("ls") + ms("/noise")),
    [0x14, 3] + list(header[:3]) + [255] + list(header[3:] + ms("/mplex/6.7.0")),
]
write("FuzzMultistreamListener", listener)

# Noise: the transcript's keys are the fuzzers' keys, so its messages are valid raw input.
framed = [h(m["framed_on_wire"]) for m in transcript["messages"]]
initiator_payload = h(transcript["initiator"]["handshake_payload_protobuf"])
responder_payload = h(transcript["responder"]["handshake_payload_protobuf"])
write("FuzzNoiseResponder", [
    b"\x04\xff" + framed[0] + framed[2],
    b"\x0c\xff" + framed[0] + framed[2],
    b"\x04\x22" + framed[0] + b"\xff" + framed[2],
    b"\x00\xff" + framed[0] + framed[2],
    b"\x01\x00" + initiator_payload,
    b"\x05\x00" + initiator_payload,
    b"\x07\x03abc" + initiator_payload,
    b"\x0f\x00" + initiator_payload,
])
write("FuzzNoiseInitiator", [
    b"\x04\xff" + framed[1],
    b"\x0c\xff" + framed[1],
    b"\x1c\xff" + framed[1],
    b"\x00\x10" + framed[1][:16] + b"\xff" + framed[1][16:],
    b"\x01" + responder_payload,
    b"\x05" + responder_payload,
    b"\x0f" + responder_payload,
    b"\x07" + responder_payload,
])
# The payload fuzzer checks payloads against the initiator's static key.
write("FuzzNoisePayload", [
    b"\x00" + initiator_payload, b"\x02" + initiator_payload, b"\x0a" + initiator_payload,
    b"\x01" + initiator_payload, b"\x0b" + initiator_payload,
    b"\x01" + h(transcript["initiator"]["noise_extensions_protobuf"]),
])

# Transport scripts: operation bytes as FuzzNoiseTransport reads them.
write("FuzzNoiseTransport", [
    bytes([0, 0, 12, 4]),
    bytes([0, 0, 100, 0, 1, 0, 5, 6, 0]),
    bytes([1, 0x04, 0x00, 4]),
    bytes([7, 1, 0, 0, 3, 4]),
    bytes([0, 0, 3, 3, 0, 1, 2, 4]),
    bytes([2, 4, 0, 3, 1, 2, 4]),
])

# TLS: the spec's certificates whole; SignedKey values built from the fixture keys.
tls = [b"\x00" + h(c["certificate_der_hex"]) for c in certificates]
tls += [b"\x40" + h(certificates[0]["certificate_der_hex"]), b"\x02" + h(certificates[1]["certificate_der_hex"])]
for key in keys:
    if key["kind"] == "public":
        signed_key = der(0x30, der(0x04, h(key["protobuf_hex"])) + der(0x04, bytes(64)))
        tls += [b"\x01" + signed_key, b"\x21" + signed_key, b"\xe1" + signed_key, b"\xa3" + signed_key]
write("FuzzTLSCertificate", tls)

# yamux frames: the fixture examples alone and back to back.
frames = [h(f["hex"]) for f in wire["yamux_frames"]]
write("FuzzYamuxFrame", [b"\x00" + f for f in frames] + [b"\x00" + b"".join(frames), b"\x81" + b"".join(frames)])
session = []
for role in (0x00, 0x01):
    script = bytearray([role | 0x02])
    for frame in frames:
        script += bytes([0x00, len(frame)]) + frame
    session.append(bytes(script))
session.append(bytes([0x00, 4, 4, 6, 0, 16, 0, 0, 7, 0, 0, 1, 0, 0, 8, 0, 9, 0]))
session.append(bytes([0x01, 2, 1, 0, 1, 0x80, 0, 0, 5, 1, 6, 0, 1, 1, 0, 10, 1]))
session.append(bytes([0x00, 12, 0, 13, 0, 12, 1, 3, 0, 1, 0, 0, 0, 1, 0x80, 0xff, 0xff, 0xff, 0xff]))
write("FuzzYamuxSession", session)
