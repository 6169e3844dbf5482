#!/usr/bin/env python3
"""Throughput through a Skyport port-range TCP route vs a direct connection to the same backend, in one run.

    python3 bench/ports.py --skyport target/release/skyport --gib 1 --rounds 3
    python3 bench/ports.py --gib 2 --rounds 7          # defaults: target/release/{skyport,examples/bench_tcp}

The backend and the client are the native load tool `examples/bench_tcp.rs` (build it with
`cargo build --release --example bench_tcp`): a sink that reads to EOF and answers with the byte count,
and a source that sends the bytes asked for, 1 MiB blocking reads and writes, so loopback, not the load
tool, is the ceiling. The script starts the backend, starts Skyport on loopback with its own port range,
routes a range port to the backend through `POST /_skyport/ports`, then alternates direct and routed
transfers (upload: client to backend; download: backend to client; the order flips every round) and prints
the median MB/s of each, min-max, the ratio routed/direct, and CPU seconds per GiB of Skyport (routed
transfers only), the backend and the client. Everything stays on 127.0.0.1.
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
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds of a running process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def transfer(tool, kind, port, size):
    """One client run: (MB/s, client CPU seconds)."""
    client = subprocess.Popen([tool, kind, f"127.0.0.1:{port}", str(size)], stdout=subprocess.PIPE, text=True)
    out = client.stdout.read()
    _, status, usage = os.wait4(client.pid, 0)
    client.returncode = os.waitstatus_to_exitcode(status)
    if client.returncode != 0:
        sys.exit(f"bench_tcp {kind} to port {port} failed ({client.returncode})")
    result = json.loads(out)
    return result["mb_per_s"], usage.ru_utime + usage.ru_stime


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find(given, candidates, hint):
    if given:
        path = given
    else:
        path = next((os.path.join(ROOT, c) for c in candidates if os.path.exists(os.path.join(ROOT, c))), None)
    if not path or not os.path.exists(path):
        sys.exit(hint)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skyport", help="the skyport binary (default: a release build under target/)")
    parser.add_argument("--tool", help="the bench_tcp binary (default: target/release/examples/bench_tcp)")
    parser.add_argument("--gib", type=float, default=1.0, help="GiB per transfer (default 1)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each measurement (default 5)")
    args = parser.parse_args()
    binary = find(
        args.skyport,
        ("target/release/skyport", "target/x86_64-unknown-linux-gnu/release/skyport"),
        "no release skyport binary: run `cargo build --release --bin skyport` or pass --skyport",
    )
    tool = find(
        args.tool,
        ("target/release/examples/bench_tcp", "target/x86_64-unknown-linux-gnu/release/examples/bench_tcp"),
        "no bench_tcp binary: run `cargo build --release --example bench_tcp` or pass --tool",
    )
    size = int(args.gib * (1 << 30))

    backend = subprocess.Popen([tool, "serve"], stdout=subprocess.PIPE, text=True)
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

        paths = (("direct", backend_port), ("route", routed_port))
        results = {(kind, path): [] for kind in ("upload", "download") for path, _ in paths}
        cpu = {(who, path): 0.0 for who in ("skyport", "backend", "client") for path, _ in paths}
        for round_ in range(args.rounds):
            for kind in ("upload", "download"):
                # Flip which goes first every round, so slow drifts of the machine hit both alike.
                for path, port in paths if round_ % 2 == 0 else paths[::-1]:
                    before = cpu_seconds(skyport.pid), cpu_seconds(backend.pid)
                    rate, client_cpu = transfer(tool, kind, port, size)
                    after = cpu_seconds(skyport.pid), cpu_seconds(backend.pid)
                    results[(kind, path)].append(rate)
                    cpu[("skyport", path)] += after[0] - before[0]
                    cpu[("backend", path)] += after[1] - before[1]
                    cpu[("client", path)] += client_cpu
        print(f"{args.gib:g} GiB per transfer, {args.rounds} rounds, median MB/s (min-max):")
        for kind in ("upload", "download"):
            direct = results[(kind, "direct")]
            routed = results[(kind, "route")]
            ratio = statistics.median(routed) / statistics.median(direct)
            print(
                f"  {kind:8} direct {statistics.median(direct):6.0f} ({min(direct):.0f}-{max(direct):.0f})"
                f"   route {statistics.median(routed):6.0f} ({min(routed):.0f}-{max(routed):.0f})"
                f"   route/direct {ratio:.0%}"
            )
        gib_moved = 2 * args.rounds * args.gib
        print("CPU seconds per GiB moved (user+system):")
        for path, _ in paths:
            print(
                f"  {path:8} skyport {cpu[('skyport', path)] / gib_moved:.3f}"
                f"   backend {cpu[('backend', path)] / gib_moved:.3f}"
                f"   client {cpu[('client', path)] / gib_moved:.3f}"
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
