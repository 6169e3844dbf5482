#!/usr/bin/env python3
"""Skyport's benchmark harness: one command that measures Skyport next to its peers in the same run.

    python3 bench/run.py            # quick mode (about a minute)
    python3 bench/run.py --full     # longer runs, more repetitions
    python3 bench/run.py --no-write # print only; do not rewrite docs/benchmarks.md

It builds Skyport (release) and a bare hyper hello-world server (the ceiling for this machine), installs the
peers it needs when they are missing (wrk and hyperfine from Debian; moto into .bench/venv), runs every
benchmark against 127.0.0.1 only, prints a table with ratios, and writes docs/benchmarks.md plus
bench/results.json. Figures are medians over repetitions; runs whose spread exceeds 15 % are marked noisy.
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(ROOT, ".bench")
SKYPORT = os.path.join(ROOT, "target", "release", "skyport")
HELLO = os.path.join(ROOT, "target", "release", "examples", "bench_hello")
CLK_TCK = os.sysconf("SC_CLK_TCK")

STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_tools():
    missing = [pkg for tool, pkg in (("wrk", "wrk"), ("hyperfine", "hyperfine")) if not shutil.which(tool)]
    if missing:
        log(f"installing {missing} (apt)")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)


def moto_server():
    """Path of a moto_server binary, installing moto[server] into .bench/venv when none works."""
    venv_bin = os.path.join(BENCH_DIR, "venv", "bin", "moto_server")
    if os.path.exists(venv_bin):
        return venv_bin
    system = shutil.which("moto_server")
    if system and subprocess.run([sys.executable, "-c", "import moto.server, flask"], capture_output=True).returncode == 0:
        return system
    log("installing moto[server] into .bench/venv")
    subprocess.run([sys.executable, "-m", "venv", os.path.join(BENCH_DIR, "venv")], check=True)
    subprocess.run([os.path.join(BENCH_DIR, "venv", "bin", "pip"), "install", "-q", "moto[server]"], check=True)
    return venv_bin


def build():
    log("building skyport and bench_hello (release)")
    subprocess.run(["cargo", "build", "--release", "--bin", "skyport", "--example", "bench_hello"], cwd=ROOT, check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


class Server:
    """A server process whose output is drained so it never blocks on a full pipe."""

    def __init__(self, argv, env=None, ready_line=None, port=None):
        self.proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.ready = threading.Event()
        self.lines = 0

        def drain():
            for line in self.proc.stdout:
                self.lines += 1
                if ready_line and ready_line in line:
                    self.ready.set()
        threading.Thread(target=drain, daemon=True).start()
        if ready_line:
            if not self.ready.wait(60):
                raise RuntimeError(f"{argv[0]} did not print {ready_line!r}")
        if port:
            wait_port(port)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def skyport_env(port, state):
    return {"GATEWAY_LISTEN": f"127.0.0.1:{port}", "DNS_ADDRESS": "0", "SKYPORT_STATE_DIR": state}


def startup(reps):
    """Cold start to `Ready.` (spawn to the line on stdout) and idle RSS."""
    times, rss = [], []
    for _ in range(reps):
        state = tempfile.mkdtemp(prefix="skyport-bench-")
        port = free_port()
        t0 = time.perf_counter()
        proc = subprocess.Popen([SKYPORT, "start"], env={**os.environ, **skyport_env(port, state)},
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in proc.stdout:
            if line.strip() == "Ready.":
                break
        times.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.3)
        rss.append(rss_kib(proc.pid) / 1024)
        proc.terminate()
        proc.wait()
        shutil.rmtree(state, ignore_errors=True)
    return {"start_ms_median": statistics.median(times), "start_ms_p90": sorted(times)[int(len(times) * 0.9) - 1],
            "idle_rss_mib": statistics.median(rss)}


def moto_startup(moto, reps):
    times, rss = [], []
    for _ in range(reps):
        port = free_port()
        t0 = time.perf_counter()
        proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_port(port)
        times.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.3)
        rss.append(rss_kib(proc.pid) / 1024)
        proc.terminate()
        proc.wait()
    return {"start_ms_median": statistics.median(times), "idle_rss_mib": statistics.median(rss)}


WRK_LUA = """
wrk.method = "{method}"
wrk.body = "{body}"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""


def parse_latency(text, label):
    m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(url, conns, seconds, method="GET", body=""):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA.format(method=method, body=body))
        script = f.name
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", "-t", "1", "-c", str(conns), "-d", f"{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "requests": total, "p50_ms": parse_latency(out, "50%"), "p99_ms": parse_latency(out, "99%"),
            "client_cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else ""}


def measure(server_pid, url, conns, seconds, reps, method="GET", body=""):
    runs = []
    for _ in range(reps):
        cpu0 = cpu_seconds(server_pid)
        r = wrk(url, conns, seconds, method, body)
        r["server_cpu_us_per_req"] = (cpu_seconds(server_pid) - cpu0) / max(r["requests"], 1) * 1e6
        r["peak_rss_mib"] = rss_kib(server_pid) / 1024
        runs.append(r)
    rps = [r["rps"] for r in runs]
    med = statistics.median(rps)
    result = {k: statistics.median([r[k] for r in runs if r[k] is not None] or [0])
              for k in ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_req", "client_cpu_s", "peak_rss_mib")}
    result["noisy"] = len(rps) > 1 and (max(rps) - min(rps)) / med > 0.15
    result["non2xx"] = sum(r["non2xx"] for r in runs)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="longer runs and more repetitions")
    ap.add_argument("--no-write", action="store_true", help="do not rewrite docs/benchmarks.md and bench/results.json")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    reps, seconds, start_reps = (5, 10, 30) if args.full else (3, 4, 15)

    ensure_tools()
    moto = moto_server()
    if not args.no_build:
        build()
    results = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "mode": "full" if args.full else "quick", "machine": machine(), "versions": versions(moto),
               "command": "python3 bench/run.py" + (" --full" if args.full else "")}

    log("startup and idle memory")
    results["startup"] = {"skyport": startup(start_reps), "moto": moto_startup(moto, max(3, start_reps // 5))}

    log("GetCallerIdentity throughput")
    state = tempfile.mkdtemp(prefix="skyport-bench-")
    port = free_port()
    sky = Server([SKYPORT, "start"], skyport_env(port, state), ready_line="Ready.")
    hport = free_port()
    hello = Server([HELLO, f"127.0.0.1:{hport}"], port=hport)
    mport = free_port()
    mot = Server([moto, "-H", "127.0.0.1", "-p", str(mport)], port=mport)
    sts = {}
    try:
        for conns in (1, 64):
            sts[f"hello_c{conns}"] = measure(hello.proc.pid, f"http://127.0.0.1:{hport}/", conns, seconds, reps)
            sts[f"skyport_c{conns}"] = measure(sky.proc.pid, f"http://127.0.0.1:{port}/", conns, seconds, reps,
                                               "POST", STS_BODY)
            sts[f"moto_c{conns}"] = measure(mot.proc.pid, f"http://127.0.0.1:{mport}/", conns, seconds,
                                            max(1, reps - 2), "POST", STS_BODY)
    finally:
        for s in (sky, hello, mot):
            s.stop()
        shutil.rmtree(state, ignore_errors=True)
    results["sts_get_caller_identity"] = sts

    table = render(results)
    print(table)
    if not args.no_write:
        with open(os.path.join(ROOT, "bench", "results.json"), "w") as f:
            json.dump(results, f, indent=2)
        write_docs(results, table)


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


def versions(moto):
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    moto_py = os.path.join(os.path.dirname(moto), "python3") if ".bench" in moto else sys.executable
    return {"skyport": out([SKYPORT, "--version"]), "rustc": out(["rustc", "--version"]),
            "moto": out([moto_py, "-c", "import moto; print(moto.__version__)"]),
            "wrk": " ".join(out(["wrk", "-v"]).split()[:2]).replace("debian/", "") or "wrk"}


def ratio(a, b):
    return f"{a / b:.1f}x" if a and b else "-"


def render(r):
    s, m = r["startup"]["skyport"], r["startup"]["moto"]
    t = r["sts_get_caller_identity"]
    lines = [
        "| Figure | Skyport | moto | Ratio |",
        "|---|---|---|---|",
        f"| Cold start to ready, median (ms) | {s['start_ms_median']:.1f} | {m['start_ms_median']:.0f} | "
        f"{ratio(m['start_ms_median'], s['start_ms_median'])} faster |",
        f"| Idle RSS (MiB) | {s['idle_rss_mib']:.1f} | {m['idle_rss_mib']:.0f} | "
        f"{ratio(m['idle_rss_mib'], s['idle_rss_mib'])} smaller |",
    ]
    for c in (1, 64):
        sk, mo, he = t[f"skyport_c{c}"], t[f"moto_c{c}"], t[f"hello_c{c}"]
        noisy = " (noisy)" if sk["noisy"] else ""
        lines += [
            f"| GetCallerIdentity, {c} conn: ops/s{noisy} | {sk['rps']:,.0f} | {mo['rps']:,.0f} | {ratio(sk['rps'], mo['rps'])} |",
            f"| GetCallerIdentity, {c} conn: p50 / p99 (ms) | {sk['p50_ms']:.3f} / {sk['p99_ms']:.3f} | "
            f"{mo['p50_ms']:.2f} / {mo['p99_ms']:.2f} | |",
            f"| GetCallerIdentity, {c} conn: server CPU per request (µs) | {sk['server_cpu_us_per_req']:.1f} | "
            f"{mo['server_cpu_us_per_req']:.0f} | {ratio(mo['server_cpu_us_per_req'], sk['server_cpu_us_per_req'])} less |",
            f"| Bare hyper hello world, {c} conn: ops/s (ceiling) | {he['rps']:,.0f} | | Skyport at "
            f"{sk['rps'] / he['rps'] * 100:.0f}% of it |",
        ]
    lines.append(f"| Peak RSS under load (MiB) | {max(t['skyport_c1']['peak_rss_mib'], t['skyport_c64']['peak_rss_mib']):.1f} | "
                 f"{max(t['moto_c1']['peak_rss_mib'], t['moto_c64']['peak_rss_mib']):.0f} | |")
    return "\n".join(lines)


def write_docs(r, table):
    v = r["versions"]
    text = f"""# Benchmarks

All figures come from one command, run on one machine, with every peer measured in the same run:

```sh
{r['command']}
```

- Date: {r['date']} ({r['mode']} mode)
- Machine: {r['machine']}
- Versions: {v['skyport']}, {v['rustc']}, moto {v['moto']}, {v['wrk']}
- Load: `wrk -t1` (one client thread; its CPU use is in `bench/results.json` as `client_cpu_s`), unsigned
  requests (every peer accepts them), keep-alive connections; the server and the client share the machine's
  cores, so "server CPU per request" is the steadiest figure to compare.
- Each throughput figure is the median of several runs; "(noisy)" marks a spread above 15 %.

{table}

## How each figure is taken

- **Cold start**: time from spawning `skyport start` (release build, fresh state directory, DNS off) to the
  `Ready.` line on its stdout. For moto: spawning `moto_server` to its port accepting connections.
- **Idle RSS**: `VmRSS` 300 ms after ready.
- **GetCallerIdentity**: `POST /` with `Action=GetCallerIdentity&Version=2011-06-15`, through the whole
  gateway (routing, request id, per-request INFO log line) and the STS service.
- **Bare hyper hello world**: `examples/bench_hello.rs`, the same hyper/tokio stack answering a constant; the
  physical ceiling for an HTTP server on this machine.

Raw numbers: `bench/results.json`.
"""
    extra = os.path.join(ROOT, "bench", "other-figures.md")
    if os.path.exists(extra):
        with open(extra) as f:
            text += "\n" + f.read()
    with open(os.path.join(ROOT, "docs", "benchmarks.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
