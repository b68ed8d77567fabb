"""The py adapter: py-libp2p behind UpgradeBench's peer contract (docs/peers.md).

    py_peer.py listen [--listen MULTIADDR] [--security noise,tls] [--negotiation classic]
    py_peer.py dial MULTIADDR [--security noise|tls] [--negotiation classic] [--multistream strict]
                    [--connections N] [--interval-ms MS]

Run it through scripts/peers/py/peer, which installs py-libp2p first. JSON lines on stdout, logs on
stderr; exit codes as in the contract.

What py-libp2p can do, read from its source (site-packages/libp2p/ of the installed version; the
paths below are those of 0.8.1):

- No early muxer negotiation, in either role. transport/upgrader.py: after the security handshake,
  TransportUpgrader.upgrade_connection always calls MuxerMultistream.new_conn
  (stream_muxer/muxer_multistream.py), which runs multistream-select for the muxer; the swarm calls
  it unconditionally (network/swarm.py, upgrade_inbound_raw_conn and upgrade_outbound_raw_conn).
  Its Noise handshake never fills the stream_muxers extension, and nothing reads the TLS ALPN
  result: TLSTransport offers muxers in ALPN only when built with `muxers=` (this adapter does not,
  so ALPN carries only "libp2p"), and even then the upgrader goes on to multistream-select.
  `--negotiation early` therefore exits 3; every connection reports "early": false.
- Strict multistream-select only: protocol_muxer/multiselect_client.py writes the header and waits
  for the peer's (handshake), then writes one proposal and waits for its echo (try_select). There
  is no lazy mode, so `--multistream lazy` exits 3.
- Noise and TLS (`/noise`, `/tls/1.0.0`). new_host's default security list also has secio and
  `/plaintext/2.0.0`; this adapter passes its own list, so a listener offers exactly --security.
- py's TCP listener sets SO_REUSEPORT (transport/tcp/tcp.py, for hole punching): `--listen` on a
  port that another process already listens on succeeds, and the two share its connections.

Stages are read through objects this adapter hands to py-libp2p itself (no patching of its code):
its own TCP transport (accept and connect times), its own Noise and TLS transports (entry to the
handshake is when multistream-select agreed on the protocol; return is the end of the handshake)
and a network notifee (the swarm's "connected": the muxer was negotiated and the connection is
registered, which is when py can serve streams on it). py-libp2p gives no hook between the end of
its muxer negotiation and that notification, so muxer_ready includes its connection bookkeeping.
"""

import argparse
import importlib.metadata
import json
import signal
import sys
import time

try:
    import multiaddr
    import trio
    from libp2p import new_host
    from libp2p.abc import INotifee
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
    from libp2p.custom_types import TProtocol
    from libp2p.network.config import MIN_CONNECTIONS, ConnectionConfig, RetryConfig
    from libp2p.network.stream.exceptions import StreamEOF
    from libp2p.peer.peerinfo import info_from_p2p_addr
    from libp2p.security.noise.transport import Transport as NoiseTransport
    from libp2p.security.tls.transport import TLSTransport
    from libp2p.transport.tcp.tcp import TCP
except ImportError as missing:
    print(f"py_peer: py-libp2p is not installed ({missing}); run scripts/peers/py/peer", file=sys.stderr)
    sys.exit(4)

ECHO = TProtocol("/echo/1.0.0")
PAYLOAD = b"hello from py-libp2p"
# The contract's bound: a connection that makes no progress for 10 s fails.
TIMEOUT_SECONDS = 10
SECURITY_PROTOCOLS = {"noise": "/noise", "tls": "/tls/1.0.0"}
# Where this adapter keeps a connection's record on py-libp2p's connection objects.
RECORD = "_upgradebench_record"

# Exit codes of the contract; argparse itself exits 2 for bad arguments.
EXIT_FAILED, EXIT_UNSUPPORTED = 1, 3


def version():
    return f"py-libp2p {importlib.metadata.version('libp2p')}"


def emit(line):
    print(json.dumps(line), flush=True)


def now_ns():
    # CLOCK_MONOTONIC on Linux, the runner's clock too: a dial line's start_monotonic_ns lets it place
    # its own listener's stages of the same connection on this line's time line (docs/peers.md).
    return time.monotonic_ns()


def describe(error):
    """The error and what caused it: py-libp2p wraps a dial's real failure in generic ones
    ("no addresses established a successful connection") that say little by themselves."""
    parts = []
    seen = set()
    while error is not None and id(error) not in seen and len(parts) < 6:
        seen.add(id(error))
        text = str(error)
        parts.append(f"{type(error).__name__}: {text}" if text else type(error).__name__)
        causes = getattr(error, "exceptions", None)  # a MultiError of the addresses' failures
        error = error.__cause__ or (causes[0] if causes else None)
    return " <- ".join(parts)


class Record:
    """One connection as this adapter sees it; stages in ns on the monotonic clock."""

    def __init__(self, origin_ns):
        self.origin_ns = origin_ns
        self.stamps = {}
        self.security = None
        self.muxer = None
        self.remote_peer_id = None
        self.error = None
        self.index = None  # listen: the accept order
        self.remote_port = None  # listen: the dialer's TCP port

    def stamp(self, stage):
        self.stamps.setdefault(stage, now_ns())

    def stages_us(self, names):
        return {
            name: (self.stamps[name] - self.origin_ns) / 1000 if name in self.stamps else None
            for name in names
        }

    def failed_stage(self, stages):
        """The stage under way when the connection stopped: the first one not reached."""
        order = [
            ("tcp_connected", "tcp_connect"),
            ("security_agreed", "security_negotiation"),
            ("handshake_done", "secure_handshake"),
            ("muxer_ready", "muxer_negotiation"),
            ("first_echo", "first_stream"),
        ]
        return next(stage for reached, stage in order if reached in stages and reached not in self.stamps)


def record_of(conn):
    """The record of a raw or secured connection: on it, or on the stream it wraps (inbound)."""
    for holder in (conn, getattr(conn, "stream", None), getattr(conn, "secured_conn", None)):
        record = getattr(holder, RECORD, None)
        if record is not None:
            return record
    return None


class TimedSecurity:
    """Mixed into py's Noise and TLS transports: stamps the two security stages of a connection."""

    protocol = None

    async def secure_inbound(self, conn):
        return await self._timed(conn, super().secure_inbound(conn))

    async def secure_outbound(self, conn, peer_id):
        return await self._timed(conn, super().secure_outbound(conn, peer_id))

    async def _timed(self, conn, handshake):
        # SecurityMultistream calls this once multistream-select agreed on this protocol.
        record = record_of(conn)
        if record is None:
            return await handshake
        record.stamp("security_agreed")
        record.security = self.protocol
        try:
            secure_conn = await handshake
        except trio.Cancelled:
            # py-libp2p bounds an upgrade with a cancel scope (its 10 s upgrade timeout); the
            # dialer's own bound replaces this with its "no progress" error.
            record.error = f"secure_handshake: py-libp2p cancelled the handshake (it bounds an upgrade by {TIMEOUT_SECONDS} s)"
            raise
        except BaseException as error:
            record.error = f"secure_handshake: {describe(error)}"
            raise
        record.stamp("handshake_done")
        record.remote_peer_id = str(secure_conn.get_remote_peer())
        setattr(secure_conn, RECORD, record)
        return secure_conn


class TimedNoise(TimedSecurity, NoiseTransport):
    protocol = SECURITY_PROTOCOLS["noise"]


class TimedTLS(TimedSecurity, TLSTransport):
    protocol = SECURITY_PROTOCOLS["tls"]


def security_options(names, key_pair):
    """The security transports to offer, in preference order, exactly those named."""
    options = {}
    for name in names:
        if name == "noise":
            transport = TimedNoise(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
        else:
            # No `muxers=`: ALPN then offers only "libp2p", so a dialer doing early negotiation
            # sees no muxer agreed in the handshake and falls back to multistream-select, which
            # py-libp2p runs in every case (see the module docstring).
            transport = TimedTLS(key_pair)
        options[TProtocol(SECURITY_PROTOCOLS[name])] = transport
    return options


class TimedTCP(TCP):
    """py's TCP transport, with a hook on every accepted and every dialed connection."""

    def __init__(self, on_accept=None, on_accept_done=None, on_dial=None):
        super().__init__()
        self.on_accept = on_accept
        self.on_accept_done = on_accept_done
        self.on_dial = on_dial

    def create_listener(self, handler_function):
        async def handler(stream):
            # Called by py's TCP listener with the stream accept() returned, before the swarm's
            # handler. When that handler returns, the connection failed its upgrade: on success it
            # waits until the swarm stops.
            record = self.on_accept(stream) if self.on_accept else None
            try:
                await handler_function(stream)
            finally:
                if record is not None and self.on_accept_done:
                    self.on_accept_done(record)

        return super().create_listener(handler)

    async def dial(self, maddr):
        raw_conn = await super().dial(maddr)
        if self.on_dial:
            self.on_dial(raw_conn)
        return raw_conn


class ConnectedNotifee(INotifee):
    """Hands the swarm's "connected" notifications to `on_connected`; ignores the rest."""

    def __init__(self, on_connected):
        self.on_connected = on_connected

    async def connected(self, network, conn):
        self.on_connected(conn)

    async def disconnected(self, network, conn):
        pass

    async def opened_stream(self, network, stream):
        pass

    async def closed_stream(self, network, stream):
        pass

    async def listen(self, network, multiaddr):
        pass

    async def listen_close(self, network, multiaddr):
        pass


def note_connected(swarm_conn):
    """The record of a connection the swarm just registered, stamped muxer_ready, or None."""
    record = record_of(getattr(swarm_conn.muxed_conn, "secured_conn", None))
    if record is None:
        return None
    record.stamp("muxer_ready")
    record.security = swarm_conn.get_negotiated_security_protocol() or record.security
    record.muxer = swarm_conn.get_negotiated_muxer_protocol()
    record.remote_peer_id = str(swarm_conn.muxed_conn.peer_id)
    return record


# py-libp2p 0.8.1 admits an inbound connection only while its swarm holds a free inbound slot
# (max_connections - min_connections: 300 - 50 by default, network/config.py), and the handler that
# took the slot never gives it back: after upgrading, Swarm._do_handle_inbound_connection awaits
# self.manager.wait_finished() ("Intentional barrier: keep handler alive", network/swarm.py), which
# returns only when the whole swarm stops. A listener with the defaults therefore accepts 250
# connections in its lifetime and then closes every new one at once (measured: connections 251 on
# were refused, 150 ms apart, one at a time). The matrix makes more than that, so the listener's
# limit is raised far above any run; each leaked handler is one idle task.
LIFETIME_INBOUND_CONNECTIONS = 1_000_000


def connection_config():
    # py-libp2p's defaults are these same 10 s (network/config.py); set so that another version's
    # defaults cannot loosen the contract's bound.
    return ConnectionConfig(
        dial_timeout=TIMEOUT_SECONDS,
        inbound_upgrade_timeout=TIMEOUT_SECONDS,
        outbound_upgrade_timeout=TIMEOUT_SECONDS,
        max_connections=LIFETIME_INBOUND_CONNECTIONS + MIN_CONNECTIONS,
    )


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


LISTEN_STAGES = ("security_agreed", "handshake_done", "muxer_ready")


class InboundLog:
    """Numbers inbound connections in accept order and prints one line for each, once."""

    def __init__(self):
        self.count = 0
        self.succeeded = 0
        self.failed = 0
        self.open = {}  # index -> record, accepted and not yet reported
        self.closed = False  # after the summary nothing more is printed

    def accepted(self, stream):
        record = Record(now_ns())
        if self.closed:
            return record
        record.index = self.count
        self.count += 1
        try:
            record.remote_port = stream.get_remote_address()[1]
        except Exception:  # noqa: BLE001 - a socket already reset has no peer address
            record.remote_port = None
        setattr(stream, RECORD, record)
        self.open[record.index] = record
        return record

    def connected(self, swarm_conn):
        record = note_connected(swarm_conn)
        if record is not None and record.index in self.open:
            self.report(record, None)

    def handler_returned(self, record):
        if record.index in self.open:
            stage = record.failed_stage(LISTEN_STAGES + ("first_echo",))
            self.report(
                record,
                record.error
                or f"{stage}: the connection ended before its upgrade finished "
                "(py-libp2p logs why at debug level only)",
            )

    def stopped(self):
        """At shutdown: the connections still being upgraded fail, then the summary."""
        for record in list(self.open.values()):
            stage = record.failed_stage(LISTEN_STAGES + ("first_echo",))
            self.report(record, f"{stage}: the listener stopped before the upgrade finished")
        self.closed = True
        emit({"summary": {"connections": self.count, "succeeded": self.succeeded, "failed": self.failed, "early": 0}})

    def report(self, record, error):
        del self.open[record.index]
        if error is None:
            self.succeeded += 1
        else:
            self.failed += 1
        emit(
            {
                "connection": record.index,
                "remote_peer_id": record.remote_peer_id,
                "remote_port": record.remote_port,
                "security": record.security,
                "muxer": record.muxer,
                "early": False,
                "stages_us": record.stages_us(LISTEN_STAGES),
                "error": error,
            }
        )


async def listen(address, security):
    # Signals are caught before the start-up line: a script that reads it and signals at once must
    # get the summary and exit code 0, not Python's KeyboardInterrupt.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        log = InboundLog()
        key_pair = create_new_key_pair()
        tcp = TimedTCP(on_accept=log.accepted, on_accept_done=log.handler_returned)
        host = new_host(
            key_pair=key_pair,
            sec_opt=security_options(security, key_pair),
            transports=[tcp],
            connection_config=connection_config(),
        )
        host.set_stream_handler(ECHO, echo_handler)
        host.get_network().register_notifee(ConnectedNotifee(log.connected))
        with trio.CancelScope() as teardown:
            async with host.run(listen_addrs=[address]):
                # host.run does not fail when nothing could be bound (Swarm.listen returns False).
                bound = host.get_transport_addrs()
                if not bound:
                    print(f"py_peer: py-libp2p could not listen on {address}", file=sys.stderr)
                    return EXIT_FAILED
                peer_id = str(host.get_id())
                emit(
                    {
                        "multiaddr": f"{bound[0]}/p2p/{peer_id}",
                        "peer_id": peer_id,
                        "impl": "py",
                        "version": version(),
                        "early": False,
                    }
                )
                async for _ in signals:
                    break
                log.stopped()
                # py's teardown of its swarm, when host.run exits, must not keep a stopped listener
                # alive: bounded like everything else.
                teardown.deadline = trio.current_time() + TIMEOUT_SECONDS
        if teardown.cancelled_caught:
            print(f"py_peer: py-libp2p's shutdown took over {TIMEOUT_SECONDS} s; abandoned", file=sys.stderr)
    return 0


DIAL_STAGES = ("tcp_connected", "security_agreed", "handshake_done", "muxer_ready", "first_echo")


class Dialer:
    def __init__(self):
        self.current = None

    def dialed(self, raw_conn):
        # The peer has one address and py's retries are off, so the TCP connection just made is the
        # current dial's: a second one would mix two connections' stages in one line.
        if self.current is not None:
            if "tcp_connected" in self.current.stamps:
                self.current.error = "tcp_connect: py-libp2p made a second TCP connection for one dial"
            self.current.stamp("tcp_connected")
            setattr(raw_conn, RECORD, self.current)

    def connected(self, swarm_conn):
        note_connected(swarm_conn)


async def dial_once(host, dialer, info):
    record = Record(now_ns())
    dialer.current = record
    connect_us = None
    # After a failed dial py refuses to dial that peer again for 60 s (Swarm's negative cache):
    # every line must be a real attempt.
    host.get_network().unblock_peer(info.peer_id)
    try:
        with trio.fail_after(TIMEOUT_SECONDS):
            started = now_ns()
            # host.connect returns no sooner than 250 ms after it started dialing, even when the
            # connection was up long before: Swarm.dial_peer (network/swarm.py) waits its "happy
            # eyeballs" delay (_HAPPY_EYEBALLS_DELAY) for the first address to fail before it
            # returns. That is py-libp2p's connect, so it is measured as is: own_us.connect shows
            # it, and first_echo includes it; muxer_ready is when the connection itself was up.
            await host.connect(info)
            connect_us = (now_ns() - started) / 1000
            if "muxer_ready" not in record.stamps:
                # host.connect returns at once when py still holds a connection to the peer.
                raise RuntimeError("py-libp2p made no new connection (it reused one it still had)")
            stream = await host.new_stream(info.peer_id, [ECHO])
            await stream.write(PAYLOAD)
            reply = b""
            while len(reply) < len(PAYLOAD):
                try:
                    chunk = await stream.read(len(PAYLOAD) - len(reply))
                except StreamEOF:
                    break
                if not chunk:
                    break
                reply += chunk
            if reply != PAYLOAD:
                raise RuntimeError(f"echo returned {reply!r}, not {PAYLOAD!r}")
            record.stamp("first_echo")
            await stream.close()
    except trio.TooSlowError:
        record.error = f"{record.failed_stage(DIAL_STAGES)}: no progress for {TIMEOUT_SECONDS} s"
    except Exception as error:  # noqa: BLE001 - reported in the line, counted in the summary
        stage = record.failed_stage(DIAL_STAGES) if "first_echo" not in record.stamps else "first_stream"
        # The handshake hook keeps the handshake's own error; the swarm re-raises it less precisely.
        record.error = record.error or f"{stage}: {describe(error)}"
    finally:
        dialer.current = None
        # Closing is part of every connection (the peer frees its per-peer slot only then), bounded
        # like the rest; a failed close is logged, as bench dial does, not charged to the upgrade.
        with trio.move_on_after(TIMEOUT_SECONDS) as scope:
            try:
                await host.disconnect(info.peer_id)
            except Exception as error:  # noqa: BLE001
                print(f"py_peer: closing the connection failed: {describe(error)}", file=sys.stderr)
        if scope.cancelled_caught:
            print(f"py_peer: closing the connection took over {TIMEOUT_SECONDS} s", file=sys.stderr)
    ok = record.error is None
    emit(
        {
            "ok": ok,
            "security": record.security,
            "muxer": record.muxer,
            "early": False,
            "stages_us": record.stages_us(DIAL_STAGES),
            "own_us": {"connect": connect_us},
            "start_monotonic_ns": record.origin_ns,
            "error": record.error,
        }
    )
    return ok


async def dial(info, security, connections, interval_ms):
    key_pair = create_new_key_pair()
    dialer = Dialer()
    host = new_host(
        key_pair=key_pair,
        sec_opt=security_options([security], key_pair),
        transports=[TimedTCP(on_dial=dialer.dialed)],
        connection_config=connection_config(),
    )
    network = host.get_network()
    network.register_notifee(ConnectedNotifee(dialer.connected))
    # py retries a failed dial 3 times with backoff by default (Swarm._dial_with_retry): one line
    # would then hide failed connections and time several. One connection per line, as the
    # contract counts them.
    network.retry_config = RetryConfig(max_retries=0)
    succeeded = 0
    # No listen address: a dialer needs none.
    with trio.CancelScope() as teardown:
        async with host.run(listen_addrs=[]):
            for index in range(connections):
                if index > 0 and interval_ms > 0:
                    await trio.sleep(interval_ms / 1000)
                succeeded += await dial_once(host, dialer, info)
            emit(
                {
                    "summary": {
                        "connections": connections,
                        "succeeded": succeeded,
                        "failed": connections - succeeded,
                        "impl": "py",
                        "version": version(),
                    }
                }
            )
            teardown.deadline = trio.current_time() + TIMEOUT_SECONDS
    if teardown.cancelled_caught:
        print(f"py_peer: py-libp2p's shutdown took over {TIMEOUT_SECONDS} s; abandoned", file=sys.stderr)
    return 0 if succeeded == connections else EXIT_FAILED


def unsupported(reason):
    print(f"py_peer: {reason}", file=sys.stderr)
    sys.exit(EXIT_UNSUPPORTED)


def check_negotiation(args):
    if args.negotiation == "early":
        unsupported(
            f"{version()} has no early muxer negotiation: its upgrader always runs multistream-select "
            "for the muxer after the handshake (libp2p/transport/upgrader.py, "
            "TransportUpgrader.upgrade_connection -> MuxerMultistream.new_conn in "
            "libp2p/stream_muxer/muxer_multistream.py)"
        )
    if getattr(args, "multistream", None) == "lazy":
        unsupported(
            f"{version()} has no lazy multistream-select: its client waits for the peer's header and "
            "then for the echo of each proposal (libp2p/protocol_muxer/multiselect_client.py, "
            "handshake and try_select)"
        )


def parse_multiaddr(parser, text, what):
    try:
        address = multiaddr.Multiaddr(text)
    except Exception as error:  # noqa: BLE001 - any parse failure is bad input
        parser.error(f"bad multiaddr {text!r}: {error}")
    names = [protocol.name for protocol in address.protocols()]
    if len(names) < 2 or names[0] not in ("ip4", "ip6") or names[1] != "tcp":
        parser.error(f"{what} must be /ip4/…/tcp/… or /ip6/…/tcp/…, not {text!r}")
    return address, names


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="peer", description="py-libp2p behind UpgradeBench's peer contract (docs/peers.md)."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    listen_parser = commands.add_parser("listen", help="serve /echo/1.0.0 until SIGINT or SIGTERM")
    listen_parser.add_argument("--listen", default="/ip4/127.0.0.1/tcp/0")
    listen_parser.add_argument("--security", default="noise,tls", help="protocols offered: noise, tls or both")
    listen_parser.add_argument("--negotiation", choices=("early", "classic"))

    dial_parser = commands.add_parser("dial", help="connect, echo once, close; N times")
    dial_parser.add_argument("multiaddr")
    dial_parser.add_argument("--security", choices=tuple(SECURITY_PROTOCOLS), default="noise")
    dial_parser.add_argument("--negotiation", choices=("early", "classic"))
    dial_parser.add_argument("--multistream", choices=("strict", "lazy"))
    dial_parser.add_argument("--connections", type=int, default=1)
    dial_parser.add_argument("--interval-ms", type=int, default=0)

    args = parser.parse_args(argv)  # exits 2 on bad arguments
    if args.command == "listen":
        names = [name.strip() for name in args.security.split(",")]
        if not names or any(name not in SECURITY_PROTOCOLS for name in names) or len(set(names)) != len(names):
            listen_parser.error(f"--security takes noise, tls or both comma-separated, not {args.security!r}")
        args.security = names
        args.listen, _ = parse_multiaddr(listen_parser, args.listen, "--listen")
    else:
        if not 1 <= args.connections <= 1_000_000:
            dial_parser.error("--connections must be between 1 and 1000000")
        if not 0 <= args.interval_ms <= 60_000:
            dial_parser.error("--interval-ms must be between 0 and 60000")
        address, names = parse_multiaddr(dial_parser, args.multiaddr, "the multiaddr")
        if "p2p" not in names:
            # py-libp2p's upgrader requires the peer ID of an outbound connection.
            dial_parser.error(f"py-libp2p dials a known peer only: the multiaddr must end in /p2p/<peer id>, not {args.multiaddr!r}")
        args.info = info_from_p2p_addr(address)
    check_negotiation(args)
    return args


def main():
    args = parse_arguments(sys.argv[1:])
    if args.command == "listen":
        sys.exit(trio.run(listen, args.listen, args.security))
    sys.exit(trio.run(dial, args.info, args.security, args.connections, args.interval_ms))


if __name__ == "__main__":
    main()
