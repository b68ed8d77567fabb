"""The `go` peer adapter of UpgradeBench (docs/peers.md): go-libp2p v0.32.1, as the libp2p daemon p2pd.

    peer listen [--listen MULTIADDR] [--security noise,tls] [--negotiation early]
    peer dial MULTIADDR/p2p/ID [--security noise|tls] [--negotiation early] [--multistream strict]
                               [--connections N] [--interval-ms MS]

p2pd (learning-at-home/go-libp2p-daemon built with go-libp2p v0.32.1, from the PyPI wheel
hivemind==1.1.12, installed by setup.sh next to this file) runs a go-libp2p host; this adapter drives
it over its unix control socket with the libp2p daemon protocol: varint-length-delimited protobuf
Request/Response messages (p2pd_pb2.py, from the same wheel). docs/go-libp2p.md says, with source
citations, what each go-side timing includes.

- listen: p2pd reports no inbound connections, so the adapter reads go's Prometheus counter
  libp2p_swarm_connections_opened_total{dir="inbound"} every 50 ms and prints one line per new
  inbound connection, with security, muxer and early from the counter's labels. go counts only
  upgrades that succeeded; the remote peer, its port and the stages are not known (null), nor are
  failed upgrades. /echo/1.0.0 streams are forwarded by p2pd to a unix socket of this adapter, which
  echoes them.
- dial: per connection CONNECT (go's Host.Connect, timed: own_us.connect), STREAM_OPEN /echo/1.0.0,
  one payload echoed, DISCONNECT. Connections are sequential, so the outbound counter's increase
  across one connection names its security, muxer and early, and the increase of the
  libp2p_swarm_handshake_latency_seconds histogram's sum is its go-measured handshake
  (own_us.handshake). Of the stages only first_echo is known (timed from sending CONNECT).

go-libp2p always offers early muxer negotiation and negotiates security and muxer with strict
multistream-select, so `--negotiation classic` and `--multistream lazy` exit 3.

Run it through `peer`, which installs p2pd first. stdout carries only JSON lines; logs, p2pd's
included, go to stderr. Exit codes: 0 ok, 1 a connection failed (or p2pd did), 2 bad arguments,
3 unsupported request, 4 not installed.
"""

import argparse
import ctypes
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

IMPL = "go"
VERSION = "go-libp2p v0.32.1"
ECHO = "/echo/1.0.0"
PAYLOAD = b"upgradebench via go-libp2p"
# The contract's bound: a connection that makes no progress for this long fails.
TIMEOUT_SECONDS = 10
# How often the listener reads go's metrics for new inbound connections.
POLL_SECONDS = 0.05
# How long p2pd may take to start (control socket, metrics endpoint) and to stop after SIGTERM.
START_SECONDS = 15
STOP_SECONDS = 5

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
INSTALL = os.path.join(ROOT, ".build-peers", "go")
P2PD = os.path.join(INSTALL, "bin", "p2pd")

SECURITY_IDS = {"noise": "/noise", "tls": "/tls/1.0.0"}
OPENED = "libp2p_swarm_connections_opened_total"
HANDSHAKE_SUM = "libp2p_swarm_handshake_latency_seconds_sum"
HANDSHAKE_COUNT = "libp2p_swarm_handshake_latency_seconds_count"


def log(message):
    print(f"go peer: {message}", file=sys.stderr, flush=True)


def emit(line):
    print(json.dumps(line), flush=True)


class UsageError(Exception):
    """Bad arguments or multiaddr: exit 2."""


class Unsupported(Exception):
    """go-libp2p cannot do what was asked: exit 3."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while the adapter was not waiting for it."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# --- base58btc and multiaddrs -----------------------------------------------------------------

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data):
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, digit = divmod(number, 58)
        out = B58[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text):
    number = 0
    for char in text:
        index = B58.find(char)
        if index < 0:
            raise ValueError(f"{char!r} is not base58btc")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def uvarint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_uvarint(data, offset):
    value = shift = 0
    while True:
        if offset >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


P_IP4, P_TCP, P_IP6, P_UNIX, P_P2P = 4, 6, 41, 400, 421


class TCPAddress:
    """/ip4|ip6/<ip>/tcp/<port>[/p2p/<peer ID>], the only form the contract uses."""

    def __init__(self, text):
        match = re.fullmatch(r"/(ip4|ip6)/([^/]+)/tcp/(\d+)(?:/p2p/([^/]+))?/?", text)
        if not match:
            raise UsageError(f"{text!r}: expected /ip4|ip6/<address>/tcp/<port>[/p2p/<peer ID>]")
        family, host, port, peer = match.groups()
        try:
            self.ip = ipaddress.IPv4Address(host) if family == "ip4" else ipaddress.IPv6Address(host)
        except ValueError as error:
            raise UsageError(f"{text!r}: {error}") from None
        self.port = int(port)
        if self.port > 65535:
            raise UsageError(f"{text!r}: port {self.port} is out of range")
        self.peer_id = peer
        self.peer_bytes = None
        if peer is not None:
            try:
                self.peer_bytes = b58decode(peer)
            except ValueError as error:
                raise UsageError(f"{text!r}: peer ID: {error}") from None
            # A peer ID is a multihash: identity (0x00) or sha2-256 (0x12), then its length.
            if len(self.peer_bytes) < 2 or self.peer_bytes[0] not in (0x00, 0x12) or self.peer_bytes[1] != len(self.peer_bytes) - 2:
                raise UsageError(f"{text!r}: {peer} is not a base58btc peer ID")

    @property
    def family(self):
        return "ip4" if self.ip.version == 4 else "ip6"

    def text(self, port=None, peer_id=None):
        out = f"/{self.family}/{self.ip}/tcp/{self.port if port is None else port}"
        return out + (f"/p2p/{peer_id}" if peer_id else "")

    def binary(self):
        """The multiaddr's binary form without /p2p (CONNECT takes the peer separately)."""
        code = P_IP4 if self.ip.version == 4 else P_IP6
        return uvarint(code) + self.ip.packed + uvarint(P_TCP) + self.port.to_bytes(2, "big")


def unix_multiaddr(path):
    # go-multiaddr's /unix value is the absolute path, length-prefixed.
    value = path.encode()
    return uvarint(P_UNIX) + uvarint(len(value)) + value


def decode_tcp_multiaddr(data):
    """(ip, port) of a binary /ip4|ip6/…/tcp/… multiaddr, or None for any other address."""
    try:
        code, offset = read_uvarint(data, 0)
        if code == P_IP4:
            ip, offset = ipaddress.IPv4Address(data[offset:offset + 4]), offset + 4
        elif code == P_IP6:
            ip, offset = ipaddress.IPv6Address(data[offset:offset + 16]), offset + 16
        else:
            return None
        code, offset = read_uvarint(data, offset)
        if code != P_TCP or len(data) != offset + 2:
            return None
        return ip, int.from_bytes(data[offset:offset + 2], "big")
    except ValueError:
        return None


# --- arguments --------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse_arguments(argv):
    parser = Parser(prog="peer", description="UpgradeBench adapter for go-libp2p v0.32.1 (p2pd).")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    listen = commands.add_parser("listen")
    listen.add_argument("--listen", default="/ip4/127.0.0.1/tcp/0")
    listen.add_argument("--security", default="noise,tls")
    listen.add_argument("--negotiation", choices=["early", "classic"])
    dial = commands.add_parser("dial")
    dial.add_argument("multiaddr")
    dial.add_argument("--security", default="noise")
    dial.add_argument("--negotiation", choices=["early", "classic"])
    dial.add_argument("--multistream", choices=["strict", "lazy"])
    dial.add_argument("--connections", type=int, default=1)
    dial.add_argument("--interval-ms", type=int, default=0)
    args = parser.parse_args(argv)

    if args.command == "listen":
        args.address = TCPAddress(args.listen)
        if args.address.peer_id is not None:
            raise UsageError("--listen takes no /p2p/ part: the daemon's identity is its own")
        names = [name.strip() for name in args.security.split(",") if name.strip()]
        unknown = [name for name in names if name not in SECURITY_IDS]
        if not names or unknown or len(set(names)) != len(names):
            raise UsageError(f"--security {args.security!r}: a list of noise, tls")
        args.security_names = names
        if args.negotiation == "classic":
            raise Unsupported(
                "--negotiation classic: go-libp2p v0.32.1 always offers early muxer negotiation "
                "(its Noise transport sends its muxers in NoiseExtensions and its TLS transport lists "
                "them in ALPN, unconditionally; see docs/go-libp2p.md)"
            )
    else:
        args.address = TCPAddress(args.multiaddr)
        if args.address.peer_id is None:
            raise UsageError(f"{args.multiaddr!r}: the go dialer needs the peer ID (/p2p/…): p2pd's CONNECT takes one")
        if args.security not in SECURITY_IDS:
            raise UsageError(f"--security {args.security!r}: one of noise, tls")
        args.security_names = [args.security]
        if not 1 <= args.connections <= 1_000_000:
            raise UsageError("--connections must be between 1 and 1000000")
        if not 0 <= args.interval_ms <= 60_000:
            raise UsageError("--interval-ms must be between 0 and 60000")
        if args.negotiation == "classic":
            raise Unsupported(
                "--negotiation classic: go-libp2p v0.32.1 always offers early muxer negotiation "
                "(see docs/go-libp2p.md)"
            )
        if args.multistream == "lazy":
            raise Unsupported(
                "--multistream lazy: go-libp2p v0.32.1 negotiates security and muxer with "
                "go-multistream's SelectOneOf, which waits for the listener's answer (strict; see docs/go-libp2p.md)"
            )
    return args


# --- the daemon -------------------------------------------------------------------------------


def die_with_parent():
    # Runs in the child before exec: the kernel kills p2pd when this adapter dies, even by SIGKILL.
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def free_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tcp_listeners(port):
    """{(ip, inode)} of every TCP socket on this machine (this network namespace) listening on `port`."""
    found = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            with open(table) as rows:
                next(rows)
                for row in rows:
                    fields = row.split()
                    address, port_hex = fields[1].split(":")
                    if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                        continue
                    # The kernel prints the address as 32-bit words in host (little-endian) order.
                    raw = b"".join(bytes.fromhex(address[i:i + 8])[::-1] for i in range(0, len(address), 8))
                    ip = ipaddress.IPv4Address(raw) if size == 4 else ipaddress.IPv6Address(raw)
                    found.add((ip, fields[9]))
        except OSError:
            continue
    return found


def socket_inodes(pid):
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        pass
    return inodes


def foreign_listeners(pid, ip, port):
    """Sockets of other processes listening where `pid` listens on ip:port (same IP or a wildcard).

    go-libp2p's TCP transport listens with SO_REUSEPORT, so a p2pd can bind a port another process
    (of the same user) already listens on with SO_REUSEPORT, and the kernel then splits the
    connections between the two: that must not go unnoticed."""
    own = socket_inodes(pid)
    return [found for found, inode in tcp_listeners(port)
            if inode not in own and (found == ip or found.is_unspecified or ip.is_unspecified)]


class DaemonError(Exception):
    pass


class MetricsPortTaken(DaemonError):
    pass


class Daemon:
    """One p2pd process, its control socket and metrics endpoint, in a private temporary folder."""

    def __init__(self, host_address, security_names):
        import p2pd_pb2  # imported here: argument checks run without the installed protobuf

        self.pb = p2pd_pb2
        self.process = None
        # A short base: unix socket paths are limited to 107 bytes.
        base = os.environ.get("TMPDIR", "/tmp")
        self.folder = tempfile.mkdtemp(prefix="go-peer-", dir=base if len(base) < 60 else "/tmp")
        self.control_path = os.path.join(self.folder, "p2pd.sock")
        self.host_address = host_address
        self.security_names = security_names
        self.metrics_port = None

    def start(self):
        # p2pd serves metrics from a TCP port it is told; a port picked here may be taken by someone
        # else before p2pd binds it, and p2pd then only logs the failure. The metrics must be this
        # p2pd's own (another p2pd on the machine counts other connections), so the listening socket
        # is checked to belong to the process, and p2pd is restarted on another port if it does not.
        for attempt in range(3):
            self.metrics_port = free_tcp_port()
            self.spawn()
            try:
                self.wait_ready()
                return
            except MetricsPortTaken as error:
                if attempt == 2:
                    raise
                log(f"{error}; restarting p2pd on another metrics port")
                self.stop()

    def spawn(self):
        # A p2pd that was killed leaves its control socket behind, and the next one could not bind it.
        if os.path.exists(self.control_path):
            os.unlink(self.control_path)
        command = [
            P2PD,
            "-listen", f"/unix{self.control_path}",
            "-hostAddrs", self.host_address,
            "-metricsAddr", f"127.0.0.1:{self.metrics_port}",
            f"-noise={'true' if 'noise' in self.security_names else 'false'}",
            f"-tls={'true' if 'tls' in self.security_names else 'false'}",
            # No relay service or client, no DHT (off unless asked), no bootstrap (off unless -b),
            # no NAT port mapping, no connection manager: a bare host. -quic is ignored by this
            # p2pd (QUIC is always compiled in) but nothing listens on QUIC and only TCP is dialed.
            "-relay=false",
            "-quic=false",
            "-q",
        ]
        # stdout is not inherited: it carries only this adapter's JSON lines. p2pd's log is relayed
        # to stderr. Its own session: a terminal's Ctrl-C reaches only the adapter, which then reads
        # the final metrics before it stops p2pd.
        self.stopping = False
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        threading.Thread(target=self.relay_log, args=(self.process.stderr,), daemon=True).start()

    def relay_log(self, pipe):
        for raw in pipe:
            line = raw.decode(errors="replace").rstrip("\n")
            # On SIGTERM p2pd closes its control listener while its accept loop is still waiting
            # (go-libp2p-daemon daemon.go, Serve), and logs that at ERROR level: expected, so dropped
            # while the adapter is stopping it. Everything else p2pd says is shown.
            if self.stopping and "error accepting connection" in line and "use of closed network connection" in line:
                continue
            print(f"p2pd: {line}", file=sys.stderr, flush=True)
        pipe.close()

    def wait_ready(self):
        deadline = time.monotonic() + START_SECONDS
        control_ready = metrics_ready = False
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise DaemonError(f"p2pd exited with status {code} while starting (its log is above)")
            if not control_ready:
                try:
                    self.control().close()
                    control_ready = True
                except OSError:
                    pass
            if not metrics_ready:
                loopback = ipaddress.IPv4Address("127.0.0.1")
                if foreign_listeners(self.process.pid, loopback, self.metrics_port):
                    raise MetricsPortTaken(f"metrics port {self.metrics_port} belongs to another process")
                own = socket_inodes(self.process.pid)
                metrics_ready = any(inode in own for _, inode in tcp_listeners(self.metrics_port))
            if control_ready and metrics_ready:
                self.scrape()  # the endpoint answers
                return
            time.sleep(0.01)
        raise DaemonError(f"p2pd did not start within {START_SECONDS} s "
                          f"(control socket {'up' if control_ready else 'down'}, metrics {'up' if metrics_ready else 'down'})")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            # SIGTERM: p2pd closes its host (connections) and removes its socket, then exits.
            self.stopping = True
            self.process.terminate()
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                log(f"p2pd did not stop within {STOP_SECONDS} s of SIGTERM; killing it")
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self):
        # SIGINT and SIGTERM wait until p2pd is stopped and the folder removed: a signal handler that
        # raised in here would leave both behind. The signal is handled right after.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})

    # The control protocol: one connection per request, or one that becomes a stream.

    def control(self, timeout=TIMEOUT_SECONDS + 1):
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(timeout)
        try:
            connection.connect(self.control_path)
        except OSError:
            connection.close()
            raise
        return connection

    @staticmethod
    def send(connection, message):
        body = message.SerializeToString()
        connection.sendall(uvarint(len(body)) + body)

    @staticmethod
    def receive_frame(connection):
        length = shift = 0
        while True:
            byte = connection.recv(1)
            if not byte:
                raise DaemonError("p2pd closed the control connection")
            length |= (byte[0] & 0x7F) << shift
            if not byte[0] & 0x80:
                break
            shift += 7
            if shift > 63:
                raise DaemonError("bad varint from p2pd")
        return receive_exactly(connection, length)

    def request(self, connection, request):
        """Sends a Request and returns the Response; an ERROR response raises DaemonError."""
        self.send(connection, request)
        response = self.pb.Response()
        response.ParseFromString(self.receive_frame(connection))
        if response.type != self.pb.Response.OK:
            raise DaemonError(response.error.msg or "p2pd answered ERROR")
        return response

    def identify(self):
        with self.control() as connection:
            response = self.request(connection, self.pb.Request(type=self.pb.Request.IDENTIFY))
        return response.identify.id, list(response.identify.addrs)

    def stream_handler(self, path, protocol):
        request = self.pb.Request(type=self.pb.Request.STREAM_HANDLER)
        request.streamHandler.addr = unix_multiaddr(path)
        request.streamHandler.proto.append(protocol)
        request.streamHandler.balanced = False
        with self.control() as connection:
            self.request(connection, request)

    def scrape(self):
        """go's Prometheus counters that the adapter reads: {(name, labels): value}."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        values = {}
        for line in text.splitlines():
            if not line.startswith(("libp2p_swarm_connections_opened_total", "libp2p_swarm_handshake_latency_seconds_")):
                continue
            match = re.fullmatch(r"(\w+)(?:\{(.*)\})?\s+(\S+)", line)
            if not match:
                continue
            name, labels, value = match.groups()
            labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or "")))
            values[(name, labels)] = float(value)
        return values


def receive_exactly(connection, count):
    chunks = []
    while count:
        chunk = connection.recv(min(count, 65536))
        if not chunk:
            raise DaemonError("closed by p2pd")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def increases(before, after, name, **wanted):
    """[(labels dict, increase)] of counter `name` between two scrapes, for series matching `wanted`."""
    out = []
    for (metric, labels), value in after.items():
        if metric != name:
            continue
        labels_dict = dict(labels)
        if any(labels_dict.get(key) != want for key, want in wanted.items()):
            continue
        increase = value - before.get((metric, labels), 0.0)
        if increase > 0:
            out.append((labels_dict, increase))
    return out


# --- listen -----------------------------------------------------------------------------------


class EchoServer:
    """The unix socket p2pd forwards each inbound /echo/1.0.0 stream to; echoes every byte back."""

    def __init__(self, path):
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(64)
        self.listener.settimeout(0.2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def accept_loop(self):
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.serve, args=(connection,), daemon=True).start()

    @staticmethod
    def serve(connection):
        # p2pd writes a varint-delimited StreamInfo first, then pipes the stream. A stream that makes
        # no progress for 10 s is dropped (the contract's bound).
        with connection:
            connection.settimeout(TIMEOUT_SECONDS)
            try:
                Daemon.receive_frame(connection)
                while True:
                    data = connection.recv(65536)
                    if not data:
                        return
                    connection.sendall(data)
            except (OSError, DaemonError) as error:
                log(f"echo stream ended: {error}")

    def close(self):
        self.stopped.set()
        self.listener.close()


def listen(args, stop):
    address = args.address
    upgraded = early = 0
    daemon = None
    echo = None
    announced = False

    def report(before, after):
        nonlocal upgraded, early
        for labels, increase in increases(before, after, OPENED, dir="inbound"):
            for _ in range(int(round(increase))):
                is_early = labels.get("early_muxer") == "true"
                emit({
                    "connection": upgraded,
                    "remote_peer_id": None,
                    "remote_port": None,
                    "security": labels.get("security") or None,
                    "muxer": labels.get("muxer") or None,
                    "early": is_early,
                    "stages_us": {"security_agreed": None, "handshake_done": None, "muxer_ready": None},
                    "error": None,
                })
                upgraded += 1
                early += is_early

    status = 0
    try:
        daemon = Daemon(address.text(), args.security_names)
        daemon.start()
        echo = EchoServer(os.path.join(daemon.folder, "echo.sock"))
        daemon.stream_handler(echo.path, ECHO)
        peer_bytes, addrs = daemon.identify()
        peer_id = b58encode(peer_bytes)
        # The announced address: the one p2pd listens on for the requested IP, with its real port
        # (port 0 asks for any free port). For an unspecified IP (0.0.0.0, ::) go lists every
        # interface's address: the first of the requested family is announced.
        tcp = [found for found in map(decode_tcp_multiaddr, addrs) if found and found[0].version == address.ip.version]
        matching = [found for found in tcp if found[0] == address.ip] or (tcp if address.ip.is_unspecified else [])
        if not matching:
            raise DaemonError(f"p2pd does not listen on {address.text()} (its addresses: {len(addrs)})")
        ip, port = matching[0]
        shared = foreign_listeners(daemon.process.pid, ip, port)
        if shared:
            raise DaemonError(f"port {port} is also listened on by another process ({', '.join(map(str, shared))}): "
                              "go listens with SO_REUSEPORT, so the kernel would split connections between the two")
        last = daemon.scrape()
        emit({
            "multiaddr": f"/{address.family}/{ip}/tcp/{port}/p2p/{peer_id}",
            "peer_id": peer_id,
            "impl": IMPL,
            "version": VERSION,
            "early": True,
        })
        announced = True
        stop.serving = True
        while not stop.event.wait(POLL_SECONDS):
            if daemon.process.poll() is not None:
                raise DaemonError(f"p2pd exited with status {daemon.process.returncode}")
            current = daemon.scrape()
            report(last, current)
            last = current
        # Connections upgraded since the last poll still count.
        report(last, daemon.scrape())
    except Interrupted:
        pass  # a signal before the listener was serving: stop cleanly all the same
    except (DaemonError, OSError) as error:
        log(f"listen: {error}")
        status = 1
    finally:
        stop.serving = True  # from here a signal only marks the stop: the clean-up must not be cut short
        if echo is not None:
            echo.close()
        if daemon is not None:
            daemon.close()
    if announced or status == 0:
        # go counts only connections whose upgrade succeeded (swarm_listen.go); one that failed leaves
        # no trace in its metrics, so neither the number of inbound connections nor of failures is
        # known: null, not 0.
        emit({"summary": {"connections": None, "succeeded": upgraded, "failed": None, "early": early}})
    return status


# --- dial -------------------------------------------------------------------------------------


def microseconds(start_ns, end_ns):
    return round((end_ns - start_ns) / 1000, 1)


def dial_once(daemon, address):
    pb = daemon.pb
    line = {
        "ok": False,
        "security": None,
        "muxer": None,
        "early": None,
        "stages_us": {"tcp_connected": None, "security_agreed": None, "handshake_done": None,
                      "muxer_ready": None, "first_echo": None},
        "own_us": {"connect": None, "handshake": None},
        "start_monotonic_ns": None,
        "error": None,
    }
    before = daemon.scrape()
    stage = "connect"
    control = stream = None
    try:
        # Both control connections are open before the clock starts: only go's work is timed.
        control = daemon.control()
        stream = daemon.control()
        connect = pb.Request(type=pb.Request.CONNECT)
        connect.connect.peer = address.peer_bytes
        connect.connect.addrs.append(address.binary())
        connect.connect.timeout = TIMEOUT_SECONDS  # seconds: p2pd's context for Host.Connect
        start = time.monotonic_ns()
        # CLOCK_MONOTONIC, as the runner's: it places its listener's stages on this line's time line.
        line["start_monotonic_ns"] = start
        daemon.request(control, connect)
        line["own_us"]["connect"] = microseconds(start, time.monotonic_ns())

        stage = "first_stream"
        deadline = time.monotonic() + TIMEOUT_SECONDS
        open_stream = pb.Request(type=pb.Request.STREAM_OPEN)
        open_stream.streamOpen.peer = address.peer_bytes
        open_stream.streamOpen.proto.append(ECHO)
        open_stream.streamOpen.timeout = TIMEOUT_SECONDS
        daemon.request(stream, open_stream)
        # From here the control connection is the stream.
        stream.sendall(PAYLOAD)
        received = b""
        while len(received) < len(PAYLOAD):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout(f"no echo within {TIMEOUT_SECONDS} s")
            stream.settimeout(remaining)
            chunk = stream.recv(len(PAYLOAD) - len(received))
            if not chunk:
                raise DaemonError(f"stream closed after {len(received)} of {len(PAYLOAD)} bytes")
            received += chunk
        if received != PAYLOAD:
            raise DaemonError("the echo differs from the payload")
        line["stages_us"]["first_echo"] = microseconds(start, time.monotonic_ns())
        line["ok"] = True
    except (DaemonError, OSError) as error:
        # go joins the errors of its dial attempts with newlines: one line reads better in JSON lines.
        reason = " ".join(str(error).split()) or type(error).__name__
        line["error"] = f"{stage}: {reason}"
    finally:
        if stream is not None:
            stream.close()

    # Connections are sequential: what go counted since `before` is this connection alone.
    try:
        after = daemon.scrape()
        opened = increases(before, after, OPENED, dir="outbound")
        if len(opened) == 1 and opened[0][1] == 1:
            labels = opened[0][0]
            line["security"] = labels.get("security") or None
            line["muxer"] = labels.get("muxer") or None
            line["early"] = labels.get("early_muxer") == "true"
        elif opened:
            log(f"go counted {sum(n for _, n in opened)} outbound connections for one CONNECT; not attributing them")
        handshakes = sum(n for _, n in increases(before, after, HANDSHAKE_COUNT))
        if handshakes == 1:
            seconds = sum(n for _, n in increases(before, after, HANDSHAKE_SUM))
            line["own_us"]["handshake"] = round(seconds * 1e6, 1)
    except (OSError, ValueError) as error:
        log(f"could not read go's metrics: {error}")

    # Close the connection (and any other to the peer), so that the next CONNECT dials anew.
    if control is not None:
        try:
            disconnect = pb.Request(type=pb.Request.DISCONNECT)
            disconnect.disconnect.peer = address.peer_bytes
            daemon.request(control, disconnect)
        except (DaemonError, OSError) as error:
            if line["error"] is None:
                line["ok"] = False
                line["error"] = f"disconnect: {error}"
        finally:
            control.close()
    return line


def dial(args):
    address = args.address
    family = "ip4" if address.ip.version == 4 else "ip6"
    loopback = "127.0.0.1" if family == "ip4" else "::1"
    succeeded = 0
    daemon = None
    try:
        # The dialing host listens on loopback only (p2pd needs no listener to dial; go's TCP
        # transport reuses a listening port as source port when the destination matches it).
        daemon = Daemon(f"/{family}/{loopback}/tcp/0", args.security_names)
        daemon.start()
        for index in range(args.connections):
            if index and args.interval_ms:
                time.sleep(args.interval_ms / 1000)
            if daemon.process.poll() is not None:
                raise DaemonError(f"p2pd exited with status {daemon.process.returncode} (its log is above)")
            line = dial_once(daemon, address)
            succeeded += line["ok"]
            emit(line)
            if line["error"] and line["error"].startswith("connect:") and index + 1 < args.connections:
                # go's swarm puts an address it failed to dial into backoff (5 s and more;
                # swarm_dial.go, DialBackoff), and p2pd's CONNECT cannot bypass it: the next CONNECT
                # would fail at once with "dial backoff" without dialing. A fresh p2pd dials for real.
                log("restarting p2pd after a failed connection, so that the next one is dialed (no dial backoff)")
                daemon.close()
                daemon = Daemon(f"/{family}/{loopback}/tcp/0", args.security_names)
                daemon.start()
        emit({"summary": {"connections": args.connections, "succeeded": succeeded,
                          "failed": args.connections - succeeded, "impl": IMPL, "version": VERSION}})
    except (DaemonError, OSError) as error:
        log(f"dial: {error}")
        return 1
    finally:
        if daemon is not None:
            daemon.close()
    return 0 if succeeded == args.connections else 1


# --- main -------------------------------------------------------------------------------------


class Stop:
    """SIGINT and SIGTERM: while `serving` (listen's loop, clean-ups) they only set `event`; otherwise
    they also raise Interrupted, so that a dial or a start-up stops at once (and cleans up)."""

    def __init__(self):
        self.event = threading.Event()
        self.serving = False

    def handler(self, signum, _frame):
        self.event.set()
        if not self.serving:
            raise Interrupted(signum)


def main(argv):
    try:
        args = parse_arguments(argv)
    except UsageError as error:
        log(f"bad arguments: {error}")
        return 2
    except Unsupported as error:
        log(f"cannot do that: {error}")
        return 3
    if os.environ.get("GO_PEER_CHECK_ONLY") == "1":
        return 0  # `peer` checks the request before it installs anything
    if not os.access(P2PD, os.X_OK):
        log(f"not installed: {P2PD} is missing (scripts/peers/go/setup.sh installs it)")
        return 4
    sys.path.insert(0, INSTALL)
    try:
        import p2pd_pb2  # noqa: F401 - fails here, not halfway, when the installation is broken
    except Exception as error:  # noqa: BLE001 - ImportError, or protobuf's version check
        log(f"not installed: p2pd_pb2 does not import ({error}); scripts/peers/go/setup.sh installs it")
        return 4

    stop = Stop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop.handler)
    try:
        if args.command == "listen":
            return listen(args, stop)
        return dial(args)
    except Interrupted as interrupted:
        log(f"stopped by {interrupted}")
        return 128 + interrupted.signum


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
