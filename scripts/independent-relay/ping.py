#!/usr/bin/env python3
"""Measure the round-trip time of the delaying relay.

    ping.py RELAY_BINARY ONE_WAY_DELAY_US [--samples N] [--warmup W]

Starts a 1-byte TCP echo server on 127.0.0.1, a relay in front of it with the
given one-way delay, and times N sequential 1-byte ping-pongs over one
TCP_NODELAY connection (after W warm-up ones). Prints
{"rtt_p50_us": ..., "rtt_min_us": ..., "samples": N}.

The measured RTT includes everything a real round trip through the relay pays
besides the two delays (loopback stack, the relay's wake-up, the echo), which is
why the suite's network figures are divided by it rather than by 2 x delay.
"""
import argparse
import json
import select
import socket
import statistics
import subprocess
import sys
import threading
import time


def echo_server(listener):
    # One byte in, the same byte out, for every connection until EOF.
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=echo, args=(conn,), daemon=True).start()


def echo(conn):
    with conn:
        while True:
            data = conn.recv(1)
            if not data:
                return
            conn.sendall(data)


def read_ready(proc, timeout):
    # The relay prints "ready <port>" once it listens; never wait for it forever.
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise RuntimeError("relay did not report ready within %.0f s" % timeout)
    line = proc.stdout.readline().split()
    if len(line) != 2 or line[0] != "ready":
        raise RuntimeError("unexpected relay output: %r" % line)
    return int(line[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("relay")
    ap.add_argument("delay_us", type=int)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    threading.Thread(target=echo_server, args=(listener,), daemon=True).start()
    echo_port = listener.getsockname()[1]

    proc = subprocess.Popen([args.relay, "0", str(echo_port), str(args.delay_us)],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = read_ready(proc, 10)
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rtts = []
        for i in range(args.warmup + args.samples):
            t0 = time.perf_counter_ns()
            sock.sendall(b"x")
            if sock.recv(1) != b"x":
                raise RuntimeError("echo returned the wrong byte or closed")
            t1 = time.perf_counter_ns()
            if i >= args.warmup:
                rtts.append((t1 - t0) / 1000)
        sock.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        listener.close()

    print(json.dumps({"rtt_p50_us": round(statistics.median(rtts), 1),
                      "rtt_min_us": round(min(rtts), 1),
                      "samples": len(rtts)}))


if __name__ == "__main__":
    sys.exit(main())
