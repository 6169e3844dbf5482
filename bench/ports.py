#!/usr/bin/env python3
"""Throughput through a Skyport port-range TCP route vs a direct connection to the same backend, in one run.

    python3 bench/ports.py --skyport target/release/skyport --gib 1 --rounds 3
    python3 bench/ports.py --gib 2 --rounds 7          # defaults: target/release/{skyport,examples/bench_tcp}

The backend and the client are the native load tool `examples/bench_tcp.rs` (build it with
`cargo build --release --example bench_tcp`): a sink that reads to EOF and answers with the byte count,
and a source that sends the bytes asked for, 1 MiB blocking reads and writes, so loopback, not the load
tool, is the ceiling. The script starts the backend, starts Skyport on loopback with its own port range,
routes a range port to the backend through `POST /_skyport/ports`, then alternates direct and routed
transfers (upload: client to backend; download: backend to client; which path goes first rotates every
round) and prints the median MB/s of each, min-max, the ratio to direct, and CPU seconds per GiB of the
relay (Skyport for the route), the backend, the client and all three. Everything stays on 127.0.0.1.

Two well-known TCP relays carry the same transfers in the same run, as a yardstick for what any relay can
do on this machine: HAProxy in TCP mode (`option splice-auto`, kernel splicing like Skyport's) and socat
(a user-space copy loop), each when installed (`apt-get install haproxy socat`; `--relays` picks).
"""
import argparse
import json
import os
import shutil
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
    """User + system CPU seconds of a running process and its reaped children (socat forks one per
    connection), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def start_relay(name, port, backend_port, scratch):
    """Starts a yardstick relay from 127.0.0.1:`port` to the backend; None when it is not installed."""
    if name == "haproxy":
        if not shutil.which("haproxy"):
            return None
        config = os.path.join(scratch, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(
                "global\n  maxconn 256\n"
                "defaults\n  mode tcp\n  option splice-auto\n  timeout connect 5s\n"
                "  timeout client 120s\n  timeout server 120s\n"
                f"listen relay\n  bind 127.0.0.1:{port}\n  server backend 127.0.0.1:{backend_port}\n"
            )
        proc = subprocess.Popen(["haproxy", "-db", "-f", config], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    elif name == "socat":
        if not shutil.which("socat"):
            return None
        proc = subprocess.Popen(["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                                 f"TCP:127.0.0.1:{backend_port}"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    else:
        sys.exit(f"unknown relay {name!r} (haproxy, socat)")
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"{name} did not start listening on {port}")


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
    parser.add_argument("--relays", default="haproxy,socat",
                        help="yardstick relays to measure too, comma-separated (default haproxy,socat; '' for none)")
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
    relays = {}
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

        # Each path: (name, port, the relay process whose CPU is counted, or None).
        paths = [("direct", backend_port, None), ("route", routed_port, skyport)]
        for name in (n.strip() for n in args.relays.split(",") if n.strip()):
            port = free_port()
            proc = start_relay(name, port, backend_port, state.name)
            if proc:
                relays[name] = proc
                paths.append((name, port, proc))
            else:
                print(f"({name} is not installed: skipped)")
        results = {(kind, path): [] for kind in ("upload", "download") for path, _, _ in paths}
        cpu = {(who, path): 0.0 for who in ("relay", "backend", "client") for path, _, _ in paths}
        for round_ in range(args.rounds):
            for kind in ("upload", "download"):
                # Rotate which goes first every round, so slow drifts of the machine hit all alike.
                shift = round_ % len(paths)
                for path, port, relay in paths[shift:] + paths[:shift]:
                    before = cpu_seconds(relay.pid) if relay else 0.0, cpu_seconds(backend.pid)
                    rate, client_cpu = transfer(tool, kind, port, size)
                    after = cpu_seconds(relay.pid) if relay else 0.0, cpu_seconds(backend.pid)
                    results[(kind, path)].append(rate)
                    cpu[("relay", path)] += after[0] - before[0]
                    cpu[("backend", path)] += after[1] - before[1]
                    cpu[("client", path)] += client_cpu
        print(f"{args.gib:g} GiB per transfer, {args.rounds} rounds, median MB/s (min-max), and of direct:")
        for kind in ("upload", "download"):
            direct = statistics.median(results[(kind, "direct")])
            cells = []
            for path, _, _ in paths:
                rates = results[(kind, path)]
                cell = f"{path} {statistics.median(rates):6.0f} ({min(rates):.0f}-{max(rates):.0f})"
                if path != "direct":
                    cell += f" {statistics.median(rates) / direct:.0%}"
                cells.append(cell)
            print(f"  {kind:8} " + "   ".join(cells))
        gib_moved = 2 * args.rounds * args.gib
        print("CPU seconds per GiB moved (user+system; 'relay' is Skyport for the route):")
        for path, _, _ in paths:
            print(
                f"  {path:8} relay {cpu[('relay', path)] / gib_moved:.3f}"
                f"   backend {cpu[('backend', path)] / gib_moved:.3f}"
                f"   client {cpu[('client', path)] / gib_moved:.3f}"
                f"   all {sum(cpu[(who, path)] for who in ('relay', 'backend', 'client')) / gib_moved:.3f}"
            )
    finally:
        for proc in relays.values():
            proc.terminate()
            proc.wait()
        if skyport:
            skyport.terminate()
            skyport.wait()
        backend.kill()
        backend.wait()
        state.cleanup()


if __name__ == "__main__":
    main()
