#!/usr/bin/env python3
"""Skyport's benchmark harness: one command that measures Skyport next to its peers in the same run.

    python3 bench/run.py            # quick mode (under 2 minutes once the peers are installed; one run per figure;
                                    # skips the peers' 1 GiB transfers and moto's receive+delete)
    python3 bench/run.py --full     # longer runs, three of each, the peers' 1 GiB transfers (under 15 minutes)
    python3 bench/run.py --no-write # print only; do not rewrite docs/benchmarks.md and bench/results.json

It builds Skyport (release) and a bare hyper hello-world server (the ceiling for this machine), installs
the peers it needs when they are missing (wrk, dnsperf, dnsmasq, nginx from Debian; moto into
.bench/venv; LocalStack's last free runtime into .bench/localstack with pyenv's Python 3.13), runs every
benchmark against 127.0.0.1 only, prints tables with ratios, and writes docs/benchmarks.md plus
bench/results.json. Figures are medians over repetitions; runs whose spread exceeds 15 % are marked noisy.
Every peer runs under timeouts: a peer that fails or hangs is marked in the tables and the run goes on.
"""
import argparse
import concurrent.futures
import datetime
import glob
import http.client
import json
import os
import platform
import re
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(ROOT, ".bench")
LUA_DIR = os.path.join(ROOT, "bench", "lua")
SKYPORT = os.path.join(ROOT, "target", "release", "skyport")
HELLO = os.path.join(ROOT, "target", "release", "examples", "bench_hello")
CLK_TCK = os.sysconf("SC_CLK_TCK")

LOCALSTACK_VERSION = "2026.3.0"
LOCALSTACK_PINS = ["cbor2>=5.5,<6", "pyopenssl==25.1.0", "cryptography>=45.0.1,<46", "service-identity"]
LOCALSTACK_S3_TMP = "/tmp/localstack-s3-storage"

STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
FORM = "application/x-www-form-urlencoded"
AMZ_JSON = "application/x-amz-json-1.0"
LIST_KEYS = 1000
BIG_BYTES = 1 << 30
PEERS = ("skyport", "moto", "localstack")
PEER_NAMES = {"skyport": "Skyport", "moto": "moto", "localstack": "LocalStack"}


T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:6.1f} s] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------
# Installing tools and peers


APT_TOOLS = {"wrk": "wrk", "dnsperf": "dnsperf", "dnsmasq": "dnsmasq-base", "nginx": "nginx-light",
             "curl": "curl", "openssl": "openssl", "taskset": "util-linux"}


def ensure_tools():
    missing = sorted({pkg for tool, pkg in APT_TOOLS.items() if not shutil.which(tool)})
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
    if system and "/.pyenv/shims/" in system:  # the shim costs a pyenv start on every launch
        found = subprocess.run(["pyenv", "which", "moto_server"], capture_output=True, text=True)
        system = found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else system
    if system and subprocess.run([sys.executable, "-c", "import moto.server, flask"], capture_output=True).returncode == 0:
        return system
    log("installing moto[server] into .bench/venv")
    subprocess.run([sys.executable, "-m", "venv", os.path.join(BENCH_DIR, "venv")], check=True)
    subprocess.run([os.path.join(BENCH_DIR, "venv", "bin", "pip"), "install", "-q", "moto[server]"], check=True)
    return venv_bin


def localstack_python():
    """Python of a venv holding LocalStack's last free runtime, installing it into .bench/localstack.

    Its code needs Python 3.12 or newer: pyenv's 3.13.0 (or the newest 3.12+ pyenv has, or this Python).
    The pins after the main install keep newer releases that crash it at start out."""
    venv = os.path.join(BENCH_DIR, "localstack")
    python = os.path.join(venv, "bin", "python")
    marker = os.path.join(venv, f".installed-{LOCALSTACK_VERSION}")
    if os.path.exists(marker):
        return python
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")), reverse=True)
    preferred = os.path.expanduser("~/.pyenv/versions/3.13.0/bin/python3")
    base = preferred if os.path.exists(preferred) else (candidates[0] if candidates else sys.executable)
    log(f"installing localstack-core {LOCALSTACK_VERSION} into .bench/localstack (with {base})")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([base, "-m", "venv", venv], check=True, timeout=300)
    pip = [python, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"localstack-core[runtime]=={LOCALSTACK_VERSION}"], check=True, timeout=1800)
    subprocess.run([*pip, *LOCALSTACK_PINS], check=True, timeout=600)
    open(marker, "w").close()
    return python


def build():
    log("building skyport and bench_hello (release)")
    subprocess.run(["cargo", "build", "--release", "--bin", "skyport", "--example", "bench_hello"], cwd=ROOT, check=True)


# ---------------------------------------------------------------------------------------------------
# Processes: ports, CPU time and memory of a process tree


def free_port():
    """A port free for TCP and UDP on 127.0.0.1 (DNS servers need both)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def _stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def tree(pid):
    """`pid` and all its descendants (LocalStack and nginx may run helper processes)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(_stat(entry)[1]), []).append(int(entry))
            except (OSError, IndexError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid):
    total = 0.0
    for p in tree(pid):
        try:
            fields = _stat(p)
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError):
            continue
    return total


def rss_kib(pid, pids=None):
    """The RSS of `pid` and its descendants (or of `pids`, when the caller already knows the tree)."""
    total = 0
    for p in pids if pids is not None else tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                total += next((int(l.split()[1]) for l in f if l.startswith("VmRSS:")), 0)
        except OSError:
            continue
    return total


class RssPeak:
    """Samples a process tree's RSS every 50 ms while in use; `.peak_mib` afterwards.

    Finding the tree scans every /proc entry (about 1 ms of CPU here), so it is refreshed once a second and
    each sample reads only the known processes' status: on a 2-core machine a 1 ms burst every 50 ms
    competes with the server and the load client and shows in their p99."""

    def __init__(self, pid):
        self.pid, self.peak_mib, self._stop = pid, 0.0, threading.Event()

    def _run(self):
        samples = 0
        while not self._stop.is_set():
            if samples % 20 == 0:
                pids = tree(self.pid)
            samples += 1
            self.peak_mib = max(self.peak_mib, rss_kib(self.pid, pids) / 1024)
            self._stop.wait(0.05)

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, rss_kib(self.pid) / 1024)


SETTLE_TIMEOUT = {"s": 60}
# Quick mode skips moto's receive+delete: its queue fill and 67 ms per received message take a minute of
# the run (the full mode measures it).
QUICK_SKIP_MOTO = ("sqs_recv_del",)


def settle(pid, timeout=None):
    """Wait until a server is idle (at most one clock tick, 10 ms, of CPU over 100 ms): a slow peer may
    still be working off requests queued by the previous run, which would otherwise count against the next
    one. The quick mode waits at most 3 s (a peer still busy then is marked by its own slow figures)."""
    deadline = time.time() + (timeout or SETTLE_TIMEOUT["s"])
    while time.time() < deadline:
        c0 = cpu_seconds(pid)
        time.sleep(0.1)
        if cpu_seconds(pid) - c0 < 0.015:
            return True
    return False


def wait_port(port, timeout=30, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


class Server:
    """A server process whose output is drained in large reads (cheap even at one log line per request),
    ready when `ready_line` appears in its output and/or `port` accepts connections."""

    def __init__(self, argv, env=None, ready_line=None, port=None, timeout=60, cwd=None):
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, cwd=cwd)
        self.pid = self.proc.pid
        self.ready = threading.Event()
        self.tail = b""
        needle = ready_line.encode() if ready_line else None

        def drain():
            seen = b""
            while True:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                self.tail = (self.tail + chunk)[-4096:]
                if needle and not self.ready.is_set():
                    seen = seen[-len(needle):] + chunk
                    if needle in seen:
                        self.ready.set()
        threading.Thread(target=drain, daemon=True).start()
        try:
            if needle:
                deadline = time.time() + timeout
                while not self.ready.wait(0.05):
                    if self.proc.poll() is not None or time.time() > deadline:
                        raise RuntimeError(f"{os.path.basename(argv[0])} did not print {ready_line!r}: "
                                           f"{self.tail[-600:].decode(errors='replace')}")
            if port:
                wait_port(port, timeout, self.proc)
        except Exception:
            self.stop()
            raise
        self.ready_ms = (time.perf_counter() - self.started) * 1000

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------------------------------
# The peers


def skyport_env(port, state, dns=None):
    env = {"GATEWAY_LISTEN": f"127.0.0.1:{port}", "DNS_ADDRESS": "0", "SKYPORT_STATE_DIR": state}
    if dns:
        env.update(dns)
    return env


class Peer:
    """One running emulator (Skyport, moto or LocalStack) on 127.0.0.1:`port`, with its scratch dirs."""

    def __init__(self, name, server, port, dirs=()):
        self.name, self.server, self.port, self.dirs = name, server, port, list(dirs)
        self.pid = server.pid
        self.first_request_ms = None

    def stop(self):
        self.server.stop()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


def start_peer(name, moto, localstack):
    port = free_port()
    if name == "skyport":
        state = tempfile.mkdtemp(prefix="skyport-bench-")
        try:
            server = Server([SKYPORT, "start"], skyport_env(port, state), ready_line="Ready.", timeout=30)
        except Exception:
            shutil.rmtree(state, ignore_errors=True)
            raise
        return Peer(name, server, port, [state])
    if name == "moto":
        return Peer(name, Server([moto, "-H", "127.0.0.1", "-p", str(port)], port=port, timeout=60), port)
    fs_root = tempfile.mkdtemp(prefix="localstack-fs-", dir=BENCH_DIR)
    shutil.rmtree(LOCALSTACK_S3_TMP, ignore_errors=True)
    env = {"OVERRIDE_IN_DOCKER": "0", "GATEWAY_LISTEN": f"127.0.0.1:{port}", "DNS_ADDRESS": "0",
           "SERVICES": "s3,sqs,sts", "SKIP_SSL_CERT_DOWNLOAD": "1", "FILESYSTEM_ROOT": fs_root,
           # nothing leaves the machine: no analytics events, no infrastructure downloads
           "DISABLE_EVENTS": "1", "SKIP_INFRA_DOWNLOADS": "1"}
    try:
        server = Server([localstack, "-m", "localstack.runtime.main"], env, ready_line="Ready.", timeout=180,
                        cwd=fs_root)
    except Exception:
        shutil.rmtree(fs_root, ignore_errors=True)
        shutil.rmtree(LOCALSTACK_S3_TMP, ignore_errors=True)
        raise
    return Peer(name, server, port, [fs_root, LOCALSTACK_S3_TMP])


def skyport_startup(reps):
    """Cold start to `Ready.` (spawn to the line on stdout) and idle RSS, read straight off the pipe."""
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
        if len(times) > reps - 3:  # idle RSS from the last three starts
            time.sleep(0.3)
            rss.append(rss_kib(proc.pid) / 1024)
        proc.terminate()
        proc.wait()
        shutil.rmtree(state, ignore_errors=True)
    return {"start_ms_median": statistics.median(times), "start_ms_p90": sorted(times)[int(len(times) * 0.9) - 1],
            "idle_rss_mib": statistics.median(rss), "runs": len(times)}


def peer_startup(name, reps, moto, localstack):
    """Cold start (spawn to ready: `Ready.` for LocalStack, the port answering for moto) and idle RSS.
    Returns the figures and the last instance, still running, for the operation benchmarks."""
    times, rss, peer = [], [], None
    for i in range(reps):
        peer = start_peer(name, moto, localstack)
        times.append(peer.server.ready_ms)
        time.sleep(0.3)
        rss.append(rss_kib(peer.pid) / 1024)
        if i < reps - 1:
            peer.stop()
    return {"start_ms_median": statistics.median(times), "idle_rss_mib": statistics.median(rss),
            "runs": len(times)}, peer


# ---------------------------------------------------------------------------------------------------
# Requests: unsigned, with a fixed SigV4-shaped Authorization header so every emulator routes them by
# the credential scope's service (none of them verifies signatures by default)


AMZ_DATE = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def authorization(service):
    return (f"AWS4-HMAC-SHA256 Credential=test/{AMZ_DATE[:8]}/us-east-1/{service}/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}")


class Client:
    """A keep-alive HTTP client for setting up buckets, objects and queues."""

    def __init__(self, port, timeout=30):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def call(self, method, path, service, body=b"", headers=None, ok=(200, 204)):
        hdrs = {"Authorization": authorization(service), "X-Amz-Date": AMZ_DATE, **(headers or {})}
        if service == "s3":
            hdrs["X-Amz-Content-Sha256"] = "UNSIGNED-PAYLOAD"
        self.conn.request(method, path, body=body, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status not in ok:
            raise RuntimeError(f"{method} {path} ({service}): HTTP {resp.status}: {data[:300]!r}")
        return data

    def sqs(self, target, payload):
        data = self.call("POST", "/", "sqs", json.dumps(payload).encode(),
                         {"Content-Type": AMZ_JSON, "X-Amz-Target": f"AmazonSQS.{target}"})
        return json.loads(data or b"{}")

    def close(self):
        self.conn.close()


def prepare(peer):
    """Buckets `bench` (objects obj-1k, obj-1m) and `bench-list` (LIST_KEYS keys) and queue `bench`."""
    c = Client(peer.port, timeout=300)
    try:
        t0 = time.perf_counter()
        c.call("PUT", "/bench", "s3")  # LocalStack loads a service on its first request
        peer.first_request_ms = (time.perf_counter() - t0) * 1000
        c.call("PUT", "/bench-list", "s3")
        c.call("PUT", "/bench/obj-1k", "s3", b"k" * 1024)
        c.call("PUT", "/bench/obj-1m", "s3", b"m" * (1 << 20))
        for i in range(LIST_KEYS):
            c.call("PUT", f"/bench-list/dir/key-{i:05}", "s3", b"v")
        peer.queue_url = c.sqs("CreateQueue", {"QueueName": "bench"})["QueueUrl"]
    finally:
        c.close()


def queue_depth(peer):
    c = Client(peer.port)
    try:
        attrs = c.sqs("GetQueueAttributes", {"QueueUrl": peer.queue_url,
                                             "AttributeNames": ["ApproximateNumberOfMessages"]})
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    finally:
        c.close()


# The operations: (key, label, wrk script, its arguments given the peer, URL path)
def static_args(method, service, size=0, ctype="-", target="-", body="-"):
    return ["static.lua", [method, authorization(service), AMZ_DATE, str(size), ctype, target, body]]


OPS = [
    ("sts", "STS GetCallerIdentity", lambda p: static_args("POST", "sts", ctype=FORM, body=STS_BODY), "/"),
    ("s3_put_1k", "S3 PutObject 1 KiB", lambda p: static_args("PUT", "s3", 1024), "/bench/put-1k"),
    ("s3_get_1k", "S3 GetObject 1 KiB", lambda p: static_args("GET", "s3"), "/bench/obj-1k"),
    ("s3_put_1m", "S3 PutObject 1 MiB", lambda p: static_args("PUT", "s3", 1 << 20), "/bench/put-1m"),
    ("s3_get_1m", "S3 GetObject 1 MiB", lambda p: static_args("GET", "s3"), "/bench/obj-1m"),
    ("s3_list", f"S3 ListObjectsV2 ({LIST_KEYS} keys)", lambda p: static_args("GET", "s3"),
     "/bench-list?list-type=2&prefix=dir%2F"),
    ("sqs_send", "SQS SendMessage", lambda p: static_args(
        "POST", "sqs", ctype=AMZ_JSON, target="AmazonSQS.SendMessage",
        body=json.dumps({"QueueUrl": p.queue_url, "MessageBody": "benchmark message of a moderate length"})), "/"),
    ("sqs_recv_del", "SQS ReceiveMessage + DeleteMessage (msgs/s)",
     lambda p: ["sqs_receive_delete.lua", [p.queue_url, authorization("sqs"), AMZ_DATE]], "/"),
]


# ---------------------------------------------------------------------------------------------------
# Load: wrk with one client thread; its CPU time is taken from getrusage(RUSAGE_CHILDREN)


def parse_latency(text, label):
    m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def parse_duration(text):
    m = re.search(r"requests in ([\d.]+)(us|ms|s|m)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[unit]


def wrk(url, conns, seconds, script, args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", "-t", "1", "-c", str(conns), "-d", f"{seconds}s", "--timeout", "10s", "--latency",
                          "-s", os.path.join(LUA_DIR, script), url, "--", *args],
                         capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    duration = parse_duration(out)
    deleted = re.search(r"^deleted: (\d+)", out, re.M)
    ops = int(deleted.group(1)) if deleted else total
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    client_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"rps": ops / duration, "requests": total, "ops": ops, "duration_s": duration,
            "p50_ms": parse_latency(out, "50%"), "p99_ms": parse_latency(out, "99%"),
            "client_cpu_pct": client_cpu / duration * 100,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1).strip() if errors else ""}


def measure(pid, url, conns, seconds, reps, script, args, before_each=None):
    runs = []
    for _ in range(reps):
        if before_each:
            before_each()
        settle(pid)
        cpu0 = cpu_seconds(pid)
        with RssPeak(pid) as peak:
            r = wrk(url, conns, seconds, script, args)
        if r["ops"] == 0:
            raise RuntimeError(f"none completed in {seconds} s")
        cpu = cpu_seconds(pid) - cpu0
        r["server_cpu_us_per_req"] = cpu / max(r["requests"], 1) * 1e6
        r["server_cpu_us_per_op"] = cpu / max(r["ops"], 1) * 1e6
        r["server_cpu_pct"] = cpu / r["duration_s"] * 100
        r["peak_rss_mib"] = peak.peak_mib
        runs.append(r)
    rps = [r["rps"] for r in runs]
    med = statistics.median(rps)
    result = {k: statistics.median([r[k] for r in runs if r[k] is not None] or [0])
              for k in ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_op", "server_cpu_pct", "client_cpu_pct")}
    result["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    result["runs"] = len(runs)
    result["noisy"] = len(rps) > 1 and (med == 0 or (max(rps) - min(rps)) / med > 0.15)
    result["non2xx"] = sum(r["non2xx"] for r in runs)
    result["socket_errors"] = "; ".join(sorted({r["socket_errors"] for r in runs if r["socket_errors"]}))
    return result


def failure(exc):
    text = str(exc)
    if isinstance(exc, subprocess.CalledProcessError):
        text = f"exit {exc.returncode}: {(exc.stderr or exc.stdout or '')[-300:]}"
    elif isinstance(exc, subprocess.TimeoutExpired):
        text = f"timed out after {exc.timeout:.0f} s"
    return {"error": text.strip()[:400]}


def fill_queue(peer, seconds):
    """Unmeasured SendMessageBatch load (10 messages a request, 64 connections) for `seconds`, so that the
    receive+delete run that follows has a backlog to drain."""
    entries = [{"Id": f"m{i}", "MessageBody": "benchmark message of a moderate length"} for i in range(10)]
    script, args = static_args("POST", "sqs", ctype=AMZ_JSON, target="AmazonSQS.SendMessageBatch",
                               body=json.dumps({"QueueUrl": peer.queue_url, "Entries": entries}))
    settle(peer.pid)
    wrk(f"http://127.0.0.1:{peer.port}/", 64, seconds, script, args)


def run_ops(peer, conns_list, seconds, reps, only=None, skip=()):
    """Every operation at each concurrency against one peer; before each receive+delete run the queue is
    filled by an unmeasured batch-send run of the same length. Operations in `skip` are marked skipped."""
    out = {}
    for key, _label, spec, path in OPS:
        if only and key not in only:
            continue
        for conns in conns_list:
            name = f"{key}_c{conns}"
            if key in skip:
                out[name] = {"skipped": "quick mode"}
                continue
            if not peer.server.alive():
                out[name] = {"error": "server exited"}
                continue
            try:
                script, args = spec(peer)
                fill = (lambda: fill_queue(peer, seconds)) if key == "sqs_recv_del" else None
                out[name] = measure(peer.pid, f"http://127.0.0.1:{peer.port}{path}", conns, seconds, reps,
                                    script, args, fill)
            except Exception as exc:  # a broken peer is marked and the run goes on
                out[name] = failure(exc)
            r = out[name]
            log(f"  {peer.name} {name}: " + (f"{r['rps']:,.0f}/s, {r['non2xx']} non-2xx {r['socket_errors']}"
                                              if "rps" in r else r["error"]))
    try:
        out["sqs_left_in_queue"] = queue_depth(peer)
    except Exception as exc:
        out["sqs_left_in_queue"] = failure(exc)["error"]
    return out


def big_object(peer, timeout):
    """1 GiB PUT (curl streaming a file of real bytes from the page cache) and GET (to /dev/null): MB/s,
    server CPU and peak RSS. Not a sparse file: reading its holes costs curl more kernel time (zero-filling
    pages) than the server spends on the upload, so the client would be what is measured."""
    settle(peer.pid)
    tmp = tempfile.mkdtemp(prefix="skyport-bench-big-")
    src = os.path.join(tmp, "1GiB")
    chunk = os.urandom(1 << 20)
    with open(src, "wb") as f:
        for _ in range(BIG_BYTES // len(chunk)):
            f.write(chunk)
    url = f"http://127.0.0.1:{peer.port}/bench/big-1g"
    hdrs = ["-H", f"Authorization: {authorization('s3')}", "-H", f"X-Amz-Date: {AMZ_DATE}",
            "-H", "X-Amz-Content-Sha256: UNSIGNED-PAYLOAD", "-H", "Expect:"]
    out = {"rss_before_mib": rss_kib(peer.pid) / 1024}
    try:
        for what, argv in (("put", ["-T", src]), ("get", ["-o", "/dev/null"])):
            cpu0 = cpu_seconds(peer.pid)
            try:
                with RssPeak(peer.pid) as peak:
                    r = subprocess.run(["curl", "-sS", "--max-time", str(timeout), "-w",
                                        "%{http_code} %{time_total} %{size_upload} %{size_download}", *hdrs,
                                        *argv, url], capture_output=True, text=True, timeout=timeout + 10)
                code, secs, up, down = r.stdout.split()[-4:]
                moved = float(up) if what == "put" else float(down)
                if r.returncode != 0 or code != "200" or int(moved) != BIG_BYTES:
                    why = f"timed out after {timeout} s" if r.returncode == 28 else r.stderr.strip()[:200]
                    out[what] = {"error": f"{why} (curl exit {r.returncode}, HTTP {code}, {int(moved)} bytes moved)"}
                else:
                    out[what] = {"mb_s": BIG_BYTES / float(secs) / 1e6, "seconds": float(secs),
                                 "server_cpu_s": cpu_seconds(peer.pid) - cpu0, "peak_rss_mib": peak.peak_mib}
            except Exception as exc:
                out[what] = failure(exc)
            log(f"  {peer.name} 1 GiB {what}: " + (f"{out[what]['mb_s']:,.0f} MB/s" if "mb_s" in out[what] else out[what]["error"]))
            if "error" in out[what]:
                break
        try:
            c = Client(peer.port, timeout=60)
            c.call("DELETE", "/bench/big-1g", "s3")
            c.close()
        except Exception:
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------------
# TLS: handshakes against Skyport's gateway port and nginx; keep-alive over TLS vs plaintext; minting


def handshakes(port, pid, seconds, clients):
    """New TLS connections per second from `clients` parallel `openssl s_time -new` (full handshakes,
    no resumption, no SNI) and the server's CPU time per handshake."""
    cpu0 = cpu_seconds(pid)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(seconds)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(clients)]
    count = 0
    for p in procs:
        try:
            text = p.communicate(timeout=seconds + 30)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            text = p.communicate()[0]
        m = re.search(r"(\d+) connections in [\d.]+s", text)
        if not m:
            raise RuntimeError(f"s_time: {text[-300:]}")
        count += int(m.group(1))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu_seconds(pid) - cpu0
    per = cpu / max(count, 1) * 1e6
    return {"handshakes_s": count / wall, "server_cpu_us_per_handshake": per,
            "per_core_handshakes_s": 1e6 / per if per else 0,
            "client_cpu_pct": ((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)) / wall * 100,
            "server_cpu_pct": cpu / wall * 100}


def median_runs(fn, reps, key):
    runs = [fn() for _ in range(reps)]
    vals = [r[key] for r in runs]
    med = statistics.median(vals)
    out = {k: statistics.median([r[k] for r in runs]) for k in runs[0]}
    out["noisy"] = len(vals) > 1 and (max(vals) - min(vals)) / med > 0.15
    return out


def nginx_tls(tmp):
    """nginx (Debian package) on loopback, one worker without a master, self-signed ECDSA P-256 cert."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=s3.amazonaws.com",
                    "-addext", "subjectAltName=DNS:s3.amazonaws.com,DNS:*.s3.amazonaws.com"],
                   check=True, capture_output=True, timeout=30)
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off;
master_process off;
worker_processes 1;
error_log {tmp}/error.log warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    location / {{ return 200 "ok"; }}
  }}
}}
""")
    return Server(["nginx", "-p", tmp, "-e", f"{tmp}/error.log", "-c", conf], port=port, timeout=15), port


def mint_times(port, pid, count):
    """Handshakes with SNI names Skyport has not seen (each mints an ECDSA P-256 leaf) vs one cached name:
    server CPU per handshake for each; the difference is the cost of minting."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    token = f"{os.getpid()}{int(time.time()) % 100000}"

    def batch(names):
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        for name in names:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname=name):
                    pass
        return ((cpu_seconds(pid) - cpu0) / len(names) * 1e6, (time.perf_counter() - t0) / len(names) * 1000)

    batch(["warm.bench.amazonaws.com"] * 20)
    cached_cpu, cached_ms = batch(["warm.bench.amazonaws.com"] * count)
    new_cpu, new_ms = batch([f"svc.r{token}x{i}.amazonaws.com" for i in range(count)])
    return {"cached_server_cpu_us": cached_cpu, "new_name_server_cpu_us": new_cpu, "cached_handshake_ms": cached_ms,
            "new_name_handshake_ms": new_ms, "mint_cpu_us": new_cpu - cached_cpu, "names": count}


def tls_bench(seconds, reps, conns):
    out = {}
    state = tempfile.mkdtemp(prefix="skyport-bench-")
    ngx_tmp = tempfile.mkdtemp(prefix="skyport-bench-nginx-")
    sky = ngx = None
    try:
        port = free_port()
        sky = Server([SKYPORT, "start"], skyport_env(port, state), ready_line="Ready.", timeout=30)
        try:
            out["handshakes_skyport"] = median_runs(lambda: handshakes(port, sky.pid, seconds, 2), reps, "handshakes_s")
        except Exception as exc:
            out["handshakes_skyport"] = failure(exc)
        try:
            ngx, nport = nginx_tls(ngx_tmp)
            out["handshakes_nginx"] = median_runs(lambda: handshakes(nport, ngx.pid, seconds, 2), reps, "handshakes_s")
        except Exception as exc:
            out["handshakes_nginx"] = failure(exc)
        script, args = static_args("POST", "sts", ctype=FORM, body=STS_BODY)
        for scheme in ("http", "https"):
            try:
                out[f"sts_{scheme}_c{conns}"] = measure(sky.pid, f"{scheme}://127.0.0.1:{port}/", conns, seconds,
                                                        reps, script, args)
            except Exception as exc:
                out[f"sts_{scheme}_c{conns}"] = failure(exc)
        try:
            out["mint"] = mint_times(port, sky.pid, 200)
        except Exception as exc:
            out["mint"] = failure(exc)
    except Exception as exc:
        out["error"] = failure(exc)["error"]
    finally:
        for s in (sky, ngx):
            if s:
                s.stop()
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(ngx_tmp, ignore_errors=True)
    for k, v in out.items():
        log(f"  tls {k}: {v}")
    return out


# ---------------------------------------------------------------------------------------------------
# DNS: dnsperf against Skyport's DNS server and dnsmasq, server on core 0, dnsperf on core 1


LOCAL_NAMES = ["s3.amazonaws.com", "sqs.us-east-1.amazonaws.com", "sts.amazonaws.com",
               "my-bucket.s3.us-east-1.amazonaws.com", "dynamodb.eu-west-1.amazonaws.com",
               "lambda.us-west-2.amazonaws.com", "localhost.localstack.cloud",
               "s3.localhost.localstack.cloud"]


def dnsperf(port, qfile, seconds, rate=None):
    argv = ["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-l", str(seconds),
            "-c", "4", "-t", "2"]
    if rate:
        argv += ["-Q", str(rate), "-v"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    qps = re.search(r"Queries per second:\s+([\d.]+)", out)
    sent = re.search(r"Queries sent:\s+(\d+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    if not qps:
        raise RuntimeError(f"dnsperf: {out[-300:]}")
    res = {"qps": float(qps.group(1)), "sent": int(sent.group(1)), "lost": int(lost.group(1))}
    if rate:
        lat = sorted(float(m) for m in re.findall(r"^> \S+ \S+ \S+ ([\d.]+)$", out, re.M))
        if lat:
            res["p50_ms"] = lat[len(lat) // 2] * 1000
            res["p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    return res


def dns_bench(seconds, reps):
    out = {}
    tmp = tempfile.mkdtemp(prefix="skyport-bench-dns-")
    local_q, fwd_q = os.path.join(tmp, "local.txt"), os.path.join(tmp, "forwarded.txt")
    with open(local_q, "w") as f:
        f.writelines(f"{n} A\n{n} AAAA\n" for n in LOCAL_NAMES)
    with open(fwd_q, "w") as f:
        f.writelines(f"host{i}.example.test A\n" for i in range(50))
    servers = []
    try:
        up = free_port()
        servers.append(Server(["taskset", "-c", "1", "dnsmasq", "-k", "-p", str(up), "--no-resolv", "--no-hosts",
                               "--listen-address=127.0.0.1", "--bind-interfaces", "--local-ttl=3600",
                               "--address=/example.test/192.0.2.1"], port=up))
        dm = free_port()
        names = [a for d in ("amazonaws.com", "localhost.localstack.cloud")
                 for a in (f"--address=/{d}/127.0.0.1", f"--address=/{d}/::1")]
        servers.append(Server(["taskset", "-c", "0", "dnsmasq", "-k", "-p", str(dm), "--no-resolv", "--no-hosts",
                               "--listen-address=127.0.0.1", "--bind-interfaces", "--cache-size=10000",
                               *names, f"--server=/example.test/127.0.0.1#{up}"], port=dm))
        sp = free_port()
        state = tempfile.mkdtemp(dir=tmp)
        env = skyport_env(free_port(), state, {"DNS_ADDRESS": "127.0.0.1", "DNS_PORT": str(sp),
                                               "DNS_SERVER": f"127.0.0.1:{up}"})
        servers.append(Server(["taskset", "-c", "0", SKYPORT, "start"], env, ready_line="Ready.", port=sp))
        targets = {"skyport": sp, "dnsmasq": dm}
        for port in targets.values():  # warm the forwarding caches
            dnsperf(port, fwd_q, 1)
        for workload, qfile in (("local", local_q), ("forwarded", fwd_q)):
            runs = {name: [] for name in targets}
            for _ in range(reps):  # alternate the servers round by round
                for name, port in targets.items():
                    try:
                        runs[name].append(dnsperf(port, qfile, seconds))
                    except Exception as exc:
                        runs[name].append(failure(exc))
            for name, rs in runs.items():
                good = [r for r in rs if "qps" in r]
                if not good:
                    out[f"{name}_{workload}"] = rs[-1]
                    continue
                q = [r["qps"] for r in good]
                out[f"{name}_{workload}"] = {"qps": statistics.median(q), "lost": sum(r["lost"] for r in good),
                                             "sent": sum(r["sent"] for r in good), "rounds": q,
                                             "noisy": len(q) > 1 and (max(q) - min(q)) / statistics.median(q) > 0.15}
        for name, port in targets.items():
            try:
                out[f"{name}_latency"] = dnsperf(port, local_q, seconds, rate=10000)
            except Exception as exc:
                out[f"{name}_latency"] = failure(exc)
    except Exception as exc:
        out["error"] = failure(exc)["error"]
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    for k, v in out.items():
        log(f"  dns {k}: {v}")
    return out


# ---------------------------------------------------------------------------------------------------
# Orchestration


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="longer runs and more repetitions")
    ap.add_argument("--no-write", action="store_true", help="do not rewrite docs/benchmarks.md and bench/results.json")
    ap.add_argument("--no-build", action="store_true", help="use the release binaries already built")
    ap.add_argument("--only", default="startup,ops,big,tls,dns",
                    help="comma-separated parts to run (development aid; the docs are written only for all parts)")
    ap.add_argument("--ops", default="", help="comma-separated operation keys to run (development aid)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated emulators for the startup/ops/big parts")
    ap.add_argument("--render", action="store_true",
                    help="only rewrite docs/benchmarks.md from bench/results.json (after editing the renderer)")
    args = ap.parse_args()
    if args.render:
        with open(os.path.join(ROOT, "bench", "results.json")) as f:
            results = json.load(f)
        table = render(results)
        print(table)
        write_docs(results, table)
        return
    parts, peers = set(args.only.split(",")), [p for p in args.peers.split(",") if p in PEERS]
    if args.full:
        # Full mode: three runs of every figure, under 15 minutes with the peers (moto's receive+delete
        # alone takes about three: its queue fills and drains at a few messages a second).
        cfg = {"start_reps": 30, "peer_start_reps": 3, "sky_reps": 3, "peer_reps": 3, "sky_secs": 3, "peer_secs": 3,
               "big_timeout": 180, "big_timeout_peers": 180, "big_peers": True, "tls_secs": 4, "tls_reps": 3, "dns_secs": 4, "dns_reps": 3}
    else:
        # Quick mode (development): one 1 s run of each figure, under 2 minutes once the peers are
        # installed and the binaries built (moto's receive+delete is skipped, see QUICK_SKIP_MOTO).
        cfg = {"start_reps": 10, "peer_start_reps": 1, "sky_reps": 1, "peer_reps": 1, "sky_secs": 1, "peer_secs": 1,
               "big_timeout": 60, "big_timeout_peers": 30, "big_peers": False, "tls_secs": 1, "tls_reps": 1, "dns_secs": 1, "dns_reps": 1}
    SETTLE_TIMEOUT["s"] = 20 if args.full else 3
    t_setup = time.time()

    ensure_tools()
    moto = moto_server() if "moto" in peers else None
    localstack = None
    if "localstack" in peers:
        try:
            localstack = localstack_python()
        except Exception as exc:
            log(f"LocalStack could not be installed: {exc}")
    if not args.no_build:
        build()
    # The run's duration counts from here: installing the peers and building happen once.
    t_start = time.time()
    results = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "mode": "full" if args.full else "quick", "machine": machine(),
               "versions": versions(moto, localstack), "config": cfg,
               "command": "python3 bench/run.py" + (" --full" if args.full else ""),
               "load_average_at_start": os.getloadavg()[0]}
    conns_list = (1, 64)

    results["startup"], results["ops"], results["big"] = {}, {}, {}
    if parts & {"startup", "ops", "big"}:
        for name in peers:
            log(f"{PEER_NAMES[name]}: startup, operations, 1 GiB object")
            peer = None
            try:
                if name == "skyport":
                    if "startup" in parts:
                        results["startup"][name] = skyport_startup(cfg["start_reps"])
                    peer = start_peer(name, moto, localstack)
                else:
                    if name == "localstack" and not localstack:
                        raise RuntimeError("not installed")
                    reps = cfg["peer_start_reps"] if "startup" in parts else 1
                    stats, peer = peer_startup(name, reps, moto, localstack)
                    if "startup" in parts:
                        results["startup"][name] = stats
                if parts & {"ops", "big"}:
                    prepare(peer)
                    results["startup"].setdefault(name, {})["first_request_ms"] = peer.first_request_ms
                # The 1 GiB transfer first: the SQS runs leave a backlog that would inflate its RSS figures.
                if "big" in parts:
                    if name != "skyport" and not cfg["big_peers"]:
                        results["big"][name] = {"skipped": "quick mode"}
                    else:
                        results["big"][name] = big_object(
                            peer, cfg["big_timeout"] if name == "skyport" else cfg["big_timeout_peers"])
                if "ops" in parts:
                    sky = name == "skyport"
                    results["ops"][name] = run_ops(peer, conns_list, cfg["sky_secs"] if sky else cfg["peer_secs"],
                                                   cfg["sky_reps"] if sky else cfg["peer_reps"],
                                                   [o for o in args.ops.split(",") if o],
                                                   () if args.full or name != "moto" else QUICK_SKIP_MOTO)
                    results["ops"][name]["idle_rss_after_mib"] = rss_kib(peer.pid) / 1024
            except Exception as exc:
                err = failure(exc)["error"]
                log(f"  {name} failed: {err}")
                for part in ("startup", "ops", "big"):
                    results[part].setdefault(name, {"error": err})
            finally:
                if peer:
                    peer.stop()
        if "ops" in parts and "skyport" in peers:
            log("bare hyper hello world (the ceiling)")
            hport = free_port()
            hello = Server([HELLO, f"127.0.0.1:{hport}"], port=hport)
            try:
                results["ops"]["hello"] = {
                    f"sts_c{c}": measure(hello.pid, f"http://127.0.0.1:{hport}/", c, cfg["sky_secs"], cfg["sky_reps"],
                                         *static_args("POST", "sts", ctype=FORM, body=STS_BODY))
                    for c in conns_list}
            finally:
                hello.stop()
    if "tls" in parts:
        log("TLS: handshakes (Skyport vs nginx), keep-alive over TLS vs plaintext, certificate minting")
        results["tls"] = tls_bench(cfg["tls_secs"], cfg["tls_reps"], 64)
    if "dns" in parts:
        log("DNS: dnsperf against Skyport and dnsmasq")
        results["dns"] = dns_bench(cfg["dns_secs"], cfg["dns_reps"])
    results["elapsed_s"] = round(time.time() - t_start)
    results["setup_s"] = round(t_start - t_setup)
    results["load_average_at_end"] = os.getloadavg()[0]

    table = render(results)
    print(table)
    complete = parts == {"startup", "ops", "big", "tls", "dns"} and peers == list(PEERS) and not args.ops
    if not args.no_write and complete:
        with open(os.path.join(ROOT, "bench", "results.json"), "w") as f:
            json.dump(results, f, indent=2)
        write_docs(results, table)
    elif not args.no_write:
        log("partial run: docs/benchmarks.md and bench/results.json left as they are")


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


def versions(moto, localstack):
    def out(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    v = {"skyport": out([SKYPORT, "--version"]), "rustc": out(["rustc", "--version"]),
         "wrk": " ".join(out(["wrk", "-v"]).split()[:2]).replace("debian/", "") or "wrk",
         "nginx": out(["nginx", "-v"]).replace("nginx version: ", ""),
         "dnsmasq": " ".join(out(["dnsmasq", "--version"]).split()[:3]),
         "dnsperf": "dnsperf " + out(["dpkg-query", "-W", "-f=${Version}", "dnsperf"]),
         "openssl": " ".join(out(["openssl", "version"]).split()[:2])}
    if moto:
        moto_py = os.path.join(os.path.dirname(moto), "python3") if ".bench" in moto else sys.executable
        v["moto"] = out([moto_py, "-c", "import moto; print(moto.__version__)"])
    if localstack:
        v["localstack"] = out([localstack, "-c", "import importlib.metadata as m; print(m.version('localstack-core'))"])
    return v


# ---------------------------------------------------------------------------------------------------
# Rendering


def ratio(a, b):
    return f"{a / b:.1f}x" if a and b else "-"


def cell_ops(r):
    if not r:
        return "-"
    if "skipped" in r:
        return f"skipped ({r['skipped']})"
    if "error" in r:
        return r["error"] if r["error"].startswith("none completed") else "failed"
    bad = " ⚠" if r.get("non2xx") or r.get("socket_errors") else ""
    rps = f"{r['rps']:,.0f}" if r["rps"] >= 10 else f"{r['rps']:.1f}"
    return f"{rps}{' (noisy)' if r['noisy'] else ''}{bad}"


def cell_lat(r):
    if not r or "error" in r or "skipped" in r or r.get("p50_ms") is None:
        return "-"
    return f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}"


def cell_cpu(r):
    if not r or "error" in r or "skipped" in r:
        return "-"
    v = r["server_cpu_us_per_op"]
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def render(r):
    ops, st = r.get("ops", {}), r.get("startup", {})
    out = []
    if st:
        out += ["### Start and memory", "",
                "| Figure | Skyport | moto | LocalStack | moto / Skyport | LocalStack / Skyport |",
                "|---|---|---|---|---|---|"]
        s, m, l = (st.get(p, {}) for p in PEERS)
        for label, key, fmt in (("Cold start to ready, median (ms)", "start_ms_median", "{:,.1f}"),
                                ("First request after ready: S3 CreateBucket (ms)", "first_request_ms", "{:,.1f}"),
                                ("Idle RSS (MiB)", "idle_rss_mib", "{:,.1f}")):
            vals = [fmt.format(x[key]) if x.get(key) is not None else "failed" if "error" in x else "-" for x in (s, m, l)]
            out.append(f"| {label} | {' | '.join(vals)} | {ratio(m.get(key), s.get(key))} | {ratio(l.get(key), s.get(key))} |")
        peaks = []
        for p in PEERS:
            runs = [v.get("peak_rss_mib", 0) for k, v in ops.get(p, {}).items()
                    if isinstance(v, dict) and not k.startswith("sqs_recv_del")]
            peaks.append(f"{max(runs):,.1f}" if runs and max(runs) else "-")
        out.append(f"| Peak RSS under load, all operations but receive+delete (MiB; those hold the filled "
                   f"queue's backlog, see results.json) | {' | '.join(peaks)} | | |")
        out.append("")
    if ops:
        out += ["### Operations (wrk, keep-alive, unsigned requests)", "",
                "Throughput in operations per second; p50 / p99 latency in ms; server CPU time per operation "
                "in µs (the steadiest figure on a shared machine). ⚠ marks runs with non-2xx responses or "
                "socket errors (see `bench/results.json`).", "",
                "| Operation | Conns | Skyport ops/s | moto ops/s | LocalStack ops/s | vs moto | vs LocalStack | "
                "Skyport p50 / p99 | moto p50 / p99 | LocalStack p50 / p99 | Skyport CPU/op | moto CPU/op | "
                "LocalStack CPU/op |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for key, label, _spec, _path in OPS:
            for c in (1, 64):
                s, m, l = (ops.get(p, {}).get(f"{key}_c{c}") for p in PEERS)
                rps = [x.get("rps") if x else None for x in (s, m, l)]
                out.append(f"| {label} | {c} | {cell_ops(s)} | {cell_ops(m)} | {cell_ops(l)} | "
                           f"{ratio(rps[0], rps[1])} | {ratio(rps[0], rps[2])} | {cell_lat(s)} | {cell_lat(m)} | "
                           f"{cell_lat(l)} | {cell_cpu(s)} | {cell_cpu(m)} | {cell_cpu(l)} |")
        hello = ops.get("hello", {})
        for c in (1, 64):
            h, s = hello.get(f"sts_c{c}"), ops.get("skyport", {}).get(f"sts_c{c}")
            if h and s and "rps" in h and "rps" in s:
                out.append(f"| Bare hyper hello world (ceiling) | {c} | {cell_ops(h)} | | | | | {cell_lat(h)} | | | "
                           f"{cell_cpu(h)} | | |")
        out.append("")
        notes = []
        for c in (1, 64):
            h, s = hello.get(f"sts_c{c}"), ops.get("skyport", {}).get(f"sts_c{c}")
            if h and s and "rps" in h and "rps" in s:
                notes.append(f"GetCallerIdentity at {c} conn runs at {s['rps'] / h['rps'] * 100:.0f}% of the "
                             f"hello-world ceiling")
        cl = [v["client_cpu_pct"] for v in ops.get("skyport", {}).values() if isinstance(v, dict) and "client_cpu_pct" in v]
        if cl:
            notes.append(f"the wrk client used {min(cl):.0f}-{max(cl):.0f}% of a core during Skyport's runs")
        for p in PEERS:
            left = ops.get(p, {}).get("sqs_left_in_queue")
            if left == 0:
                notes.append(f"{PEER_NAMES[p]}'s queue ran dry during receive+delete (its rate is a lower bound)")
        if notes:
            out += ["Notes: " + "; ".join(notes) + ".", ""]
    big = r.get("big", {})
    if big:
        out += ["### 1 GiB object (curl, one stream)", "",
                "| Server | PUT MB/s | GET MB/s | Server peak RSS (MiB; RSS before, with the earlier runs' data) |", "|---|---|---|---|"]
        for p in PEERS:
            b = big.get(p)
            if not b:
                continue
            if "skipped" in b or "error" in b:
                why = f"skipped ({b['skipped']})" if "skipped" in b else f"failed: {b['error'][:80]}"
                out.append(f"| {PEER_NAMES[p]} | {why} | | |")
                continue
            cells = [f"{b[w]['mb_s']:,.0f}" if "mb_s" in b.get(w, {}) else ("failed" if w in b else "-")
                     for w in ("put", "get")]
            peak = max((b[w].get("peak_rss_mib", 0) for w in ("put", "get") if w in b), default=0)
            before = f" ({b['rss_before_mib']:,.0f} before)" if "rss_before_mib" in b else ""
            out.append(f"| {PEER_NAMES[p]} | {cells[0]} | {cells[1]} | {peak:,.0f}{before} |")
        out.append("")
    tls = r.get("tls", {})
    if tls:
        out += ["### TLS", "", "| Figure | Skyport | nginx | Ratio |", "|---|---|---|---|"]
        s, n = tls.get("handshakes_skyport", {}), tls.get("handshakes_nginx", {})

        def hv(x, k, fmt="{:,.0f}"):
            return fmt.format(x[k]) + (" (noisy)" if x.get("noisy") and k == "handshakes_s" else "") if k in x else "failed"
        out.append(f"| Full TLS 1.3 handshakes/s (2 × `openssl s_time -new`) | {hv(s, 'handshakes_s')} | "
                   f"{hv(n, 'handshakes_s')} | {ratio(s.get('handshakes_s'), n.get('handshakes_s'))} |")
        out.append(f"| Server CPU per handshake (µs) | {hv(s, 'server_cpu_us_per_handshake')} | "
                   f"{hv(n, 'server_cpu_us_per_handshake')} | |")
        out.append(f"| Handshakes/s per server core (1 / CPU per handshake) | {hv(s, 'per_core_handshakes_s')} | "
                   f"{hv(n, 'per_core_handshakes_s')} | {ratio(s.get('per_core_handshakes_s'), n.get('per_core_handshakes_s'))} |")
        p, t = tls.get("sts_http_c64", {}), tls.get("sts_https_c64", {})
        if "rps" in p and "rps" in t:
            out.append(f"| GetCallerIdentity keep-alive, 64 conn: TLS vs plaintext ops/s | {t['rps']:,.0f} vs "
                       f"{p['rps']:,.0f} ({t['rps'] / p['rps'] * 100:.0f}%) | | |")
        mint = tls.get("mint", {})
        if "mint_cpu_us" in mint:
            out.append(f"| Certificate mint: server CPU per handshake, new name vs cached (µs) | "
                       f"{mint['new_name_server_cpu_us']:,.0f} vs {mint['cached_server_cpu_us']:,.0f} "
                       f"(mint ≈ {mint['mint_cpu_us']:,.0f}) | | |")
        out.append("")
    dns = r.get("dns", {})
    if dns:
        out += ["### DNS (dnsperf, 4 clients; server pinned to core 0, dnsperf to core 1)", "",
                "| Workload | Skyport qps | dnsmasq qps | Ratio | Lost (Skyport / dnsmasq) |", "|---|---|---|---|---|"]
        for w, label in (("local", "Local names (AWS and LocalStack names, A + AAAA)"),
                         ("forwarded", "Forwarded names, answered from cache")):
            s, d = dns.get(f"skyport_{w}", {}), dns.get(f"dnsmasq_{w}", {})
            cell = [f"{x['qps']:,.0f}{' (noisy)' if x.get('noisy') else ''}" if "qps" in x else "failed" for x in (s, d)]
            out.append(f"| {label} | {cell[0]} | {cell[1]} | {ratio(s.get('qps'), d.get('qps'))} | "
                       f"{s.get('lost', '-')} / {d.get('lost', '-')} |")
        s, d = dns.get("skyport_latency", {}), dns.get("dnsmasq_latency", {})
        if "p50_ms" in s and "p50_ms" in d:
            out.append(f"| Local names, dnsperf -Q 10000 (rate cap): p50 / p99 (ms) | {s['p50_ms']:.3f} / {s['p99_ms']:.3f} | "
                       f"{d['p50_ms']:.3f} / {d['p99_ms']:.3f} | | {s.get('lost', '-')} / {d.get('lost', '-')} |")
        out.append("")
    return "\n".join(out)


def write_docs(r, table):
    v = r["versions"]
    c = r["config"]
    ls = v.get("localstack", "?")
    if "load_average_at_start" in r:
        load = (f"1-minute load average {r['load_average_at_start']:.1f} at the start and "
                f"{r['load_average_at_end']:.1f} at the end\n  (above about 1, other work shared the cores and "
                "every figure is noisy: compare ratios and CPU per operation\n  rather than absolute rates)")
    else:
        load = "load average not recorded"
    setup = f" after {r['setup_s']} s of installing and building" if r.get("setup_s") else ""
    text = f"""# Benchmarks

All figures come from one command, run on one machine, with every peer measured in the same run:

```sh
{r['command']}
```

- Date: {r['date']} ({r['mode']} mode, {r['elapsed_s']} s{setup})
- Machine: {r['machine']}; {load}
- Versions: {v['skyport']}, {v['rustc']}; moto {v.get('moto', '?')}; LocalStack (localstack-core, host
  runtime without Docker) {ls}; {v['wrk']}; {v['nginx']}; {v['dnsmasq']}; {v['dnsperf']}; {v['openssl']}
- Load: `wrk -t1` (one client thread; its CPU use is `client_cpu_pct` in `bench/results.json`), unsigned
  requests with a fixed SigV4-shaped `Authorization` header (every peer routes by its credential scope and
  none verifies signatures by default), keep-alive connections; the servers and the client share the
  machine's cores, so "server CPU per operation" (from `/proc/<pid>/stat` before and after) is the
  steadiest figure to compare.
- Repetitions: Skyport {c['sky_reps']} × {c['sky_secs']} s per operation and concurrency, moto and LocalStack
  {c['peer_reps']} × {c['peer_secs']} s; each figure is the median, "(noisy)" marks a spread above 15 %.
  Quick mode skips the peers' 1 GiB transfers (`--full` runs them, with a 180 s limit each).

{table}
## How each figure is taken

- **Cold start**: time from spawning `skyport start` (release build, fresh state directory, DNS off) to the
  `Ready.` line on its stdout. moto: spawning `moto_server` to its port accepting connections. LocalStack:
  spawning `python -m localstack.runtime.main` (`SERVICES=s3,sqs,sts`) to its `Ready.` line.
- **Idle RSS**: `VmRSS` of the process tree 300 ms after ready. **Peak RSS under load**: sampled every
  50 ms during every wrk run.
- **Operations**: `bench/lua/static.lua` sends one precomputed request over and over: GetCallerIdentity
  (query protocol), PutObject / GetObject (path-style, the same key each time), ListObjectsV2 of a bucket
  holding {LIST_KEYS} keys (one full page), SendMessage (awsJson). `bench/lua/sqs_receive_delete.lua`
  receives up to 10 messages per call and deletes each one with its own DeleteMessage; its rate is
  messages deleted per second and its latency is per request. Before each of its runs an unmeasured
  SendMessageBatch run of the same length fills the queue.
- **Bare hyper hello world**: `examples/bench_hello.rs`, the same hyper/tokio stack answering a constant; the
  physical ceiling for an HTTP server on this machine.
- **1 GiB object**: `curl -T` of a 1 GiB file of random bytes just written (so in the page cache; a sparse
  file would make curl's own kernel time, zero-filling the holes, the limit), then a GET to `/dev/null`.
- **TLS handshakes**: two parallel `openssl s_time -new` clients (full TLS 1.3 handshakes, no resumption,
  no SNI, so Skyport serves its default certificate) against Skyport's gateway port and against nginx
  (one worker, no master, `ssl_session_cache off`, self-signed ECDSA P-256 certificate like Skyport's
  leaves). **Minting**: Python `ssl` handshakes with 200 names Skyport has not seen (each mints an ECDSA
  P-256 leaf) against one cached name; the difference in server CPU per handshake is the mint cost.
- **DNS**: `dnsperf -c 4` with the same query file against Skyport's DNS server and dnsmasq
  (`address=/amazonaws.com/127.0.0.1`-style lines, `no-resolv`); forwarded names go to a second dnsmasq
  upstream and are warmed into both caches first; latency at a fixed 10,000 qps from `dnsperf -v`.

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
