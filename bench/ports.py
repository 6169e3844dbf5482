#!/usr/bin/env python3
"""Throughput through a Skyport port-range TCP route vs a direct connection to the same backend, in one run.

    python3 bench/ports.py                       # 1 GiB each way, 5 rounds
    python3 bench/ports.py --gib 2 --rounds 7 --skyport target/release/skyport

It starts a backend in its own process (a sink that reads to EOF and answers with the byte count, and a
source that sends the bytes asked for), starts Skyport (release binary) on loopback with its own port range,
routes a range port to the backend through `POST /_skyport/ports`, then alternates direct and routed
transfers (upload: client to backend; download: backend to client) and prints the median GB/s of each and
the ratio routed/direct. Everything stays on 127.0.0.1.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHUNK = 1 << 20


def serve():
    """The backend: b'U' then bytes to EOF -> 8-byte count; b'D' + 8-byte length -> that many bytes."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    payload = memoryview(bytes(CHUNK))

    def handle(conn):
        with conn:
            mode = conn.recv(1)
            if mode == b"U":
                buf = bytearray(CHUNK)
                total = 0
                while True:
                    n = conn.recv_into(buf)
                    if n == 0:
                        break
                    total += n
                conn.sendall(total.to_bytes(8, "big"))
            elif mode == b"D":
                want = int.from_bytes(recv_exact(conn, 8), "big")
                while want > 0:
                    n = min(want, CHUNK)
                    conn.sendall(payload[:n])
                    want -= n

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        part = conn.recv(n - len(data))
        if not part:
            raise EOFError("connection closed early")
        data += part
    return data


def upload(port, size):
    payload = memoryview(bytes(CHUNK))
    with socket.create_connection(("127.0.0.1", port)) as conn:
        started = time.perf_counter()
        conn.sendall(b"U")
        left = size
        while left > 0:
            n = min(left, CHUNK)
            conn.sendall(payload[:n])
            left -= n
        conn.shutdown(socket.SHUT_WR)
        got = int.from_bytes(recv_exact(conn, 8), "big")
        elapsed = time.perf_counter() - started
    assert got == size, f"backend counted {got} of {size} bytes"
    return size / elapsed / 1e9


def download(port, size):
    buf = bytearray(CHUNK)
    with socket.create_connection(("127.0.0.1", port)) as conn:
        started = time.perf_counter()
        conn.sendall(b"D" + size.to_bytes(8, "big"))
        total = 0
        while True:
            n = conn.recv_into(buf)
            if n == 0:
                break
            total += n
        elapsed = time.perf_counter() - started
    assert total == size, f"received {total} of {size} bytes"
    return size / elapsed / 1e9


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skyport", help="the skyport binary (default: a release build under target/)")
    parser.add_argument("--gib", type=float, default=1.0, help="GiB per transfer (default 1)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each measurement (default 5)")
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    binary = args.skyport
    if not binary:
        for candidate in ("target/release/skyport", "target/x86_64-unknown-linux-gnu/release/skyport"):
            if os.path.exists(os.path.join(ROOT, candidate)):
                binary = os.path.join(ROOT, candidate)
                break
    if not binary or not os.path.exists(binary):
        sys.exit("no release skyport binary: run `cargo build --release` or pass --skyport")
    size = int(args.gib * (1 << 30))

    backend = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    state = tempfile.TemporaryDirectory()
    skyport = None
    try:
        backend_port = int(backend.stdout.readline())
        gateway = free_port()
        range_start = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DNS_", "SKYPORT_", "GATEWAY_"))},
            "GATEWAY_LISTEN": f"127.0.0.1:{gateway}",
            "DNS_ADDRESS": "0",
            "SKYPORT_STATE_DIR": state.name,
            "EXTERNAL_SERVICE_PORTS_START": str(range_start),
            "EXTERNAL_SERVICE_PORTS_END": str(range_start + 1),
            "LS_LOG": "warn",
        }
        skyport = subprocess.Popen([binary, "start"], env=env, stdout=subprocess.DEVNULL)
        endpoint = f"http://127.0.0.1:{gateway}"
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("skyport did not start")
                time.sleep(0.05)
        request = urllib.request.Request(
            f"{endpoint}/_skyport/ports",
            data=json.dumps({"target": f"127.0.0.1:{backend_port}", "description": "bench"}).encode(),
            method="POST",
        )
        routed_port = json.load(urllib.request.urlopen(request))["port"]

        results = {(kind, path): [] for kind in ("upload", "download") for path in ("direct", "route")}
        for _ in range(args.rounds):
            for kind, fn in (("upload", upload), ("download", download)):
                # Alternate which goes first, so slow drifts of the machine hit both alike.
                for path, port in (("direct", backend_port), ("route", routed_port)):
                    results[(kind, path)].append(fn(port, size))
        print(f"{args.gib:g} GiB per transfer, {args.rounds} rounds, median GB/s (min-max):")
        for kind in ("upload", "download"):
            direct = results[(kind, "direct")]
            routed = results[(kind, "route")]
            ratio = statistics.median(routed) / statistics.median(direct)
            print(
                f"  {kind:8} direct {statistics.median(direct):6.2f} ({min(direct):.2f}-{max(direct):.2f})"
                f"   route {statistics.median(routed):6.2f} ({min(routed):.2f}-{max(routed):.2f})"
                f"   route/direct {ratio:.0%}"
            )
    finally:
        if skyport:
            skyport.terminate()
            skyport.wait()
        backend.kill()
        backend.wait()
        state.cleanup()


if __name__ == "__main__":
    main()
