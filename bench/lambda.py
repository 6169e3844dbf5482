#!/usr/bin/env python3
"""Lambda benchmarks (issue #18): cold start split into Docker's own container start and the rest, warm
invokes of no-op functions (Python and Rust; local and Docker executors; 1 and 10 connections),
Skyport's added latency per warm invoke, Skyport's CPU per warm invoke, and Skyport's RSS with 50 warm
environments.

    python3 bench/lambda.py            # prints the tables (Markdown) and writes bench/lambda-results.json
    python3 bench/lambda.py --seconds 5

It builds Skyport (release) and the offline runtime images (`tests/lambda_images/build.sh`), and sends
traffic only to 127.0.0.1 and to containers it creates. Figures are one run each; the machine's load
is printed with them.
"""
import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402  (the main harness: processes, CPU, RSS, wrk)

ROOT = harness.ROOT
SKYPORT = harness.SKYPORT
PY_NOOP = "def main(event, context):\n    return {}\n"
PY_SLEEP = "import time\ndef main(event, context):\n    time.sleep(float(event.get('sleep', 0)))\n    return {}\n"


def zipped(name, text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, text)
    return buf.getvalue()


def api(port, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Authorization": harness.authorization("lambda"),
                                          "Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status, dict(r.headers), r.read()


def create(port, name, runtime, handler, zip_bytes, env=None, timeout=30):
    import base64
    body = {"FunctionName": name, "Runtime": runtime, "Role": "arn:aws:iam::000000000000:role/bench",
            "Handler": handler, "Code": {"ZipFile": base64.b64encode(zip_bytes).decode()}, "Timeout": timeout}
    if env:
        body["Environment"] = {"Variables": env}
    api(port, "POST", "/2015-03-31/functions", body)
    wait_state(port, name)


def wait_state(port, name):
    deadline = time.time() + 120
    while time.time() < deadline:
        _, _, data = api(port, "GET", f"/2015-03-31/functions/{name}/configuration")
        c = json.loads(data)
        if c.get("State") == "Active" and c.get("LastUpdateStatus", "Successful") == "Successful":
            return
        if c.get("State") == "Failed":
            raise RuntimeError(f"{name} failed: {c.get('StateReason')}")
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not become Active")


def invoke(port, name, payload=b"{}"):
    t0 = time.perf_counter()
    status, headers, data = api(port, "POST", f"/2015-03-31/functions/{name}/invocations", payload)
    return (time.perf_counter() - t0) * 1000, headers, data


def report_lines(port, name):
    """Every REPORT line of the function's log group (FilterLogEvents through the Logs API)."""
    body = json.dumps({"logGroupName": f"/aws/lambda/{name}"}).encode()
    lines, token = [], None
    while True:
        payload = {"logGroupName": f"/aws/lambda/{name}"}
        if token:
            payload["nextToken"] = token
        req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=json.dumps(payload).encode(), method="POST",
                                     headers={"Authorization": harness.authorization("logs"),
                                              "Content-Type": "application/x-amz-json-1.1",
                                              "X-Amz-Target": "Logs_20140328.FilterLogEvents"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                out = json.loads(r.read())
        except urllib.error.HTTPError as e:
            # The log group appears with the first lines, written just after the invoke answers.
            if e.code == 400 and b"ResourceNotFoundException" in e.read():
                return lines
            raise
        lines += [e["message"] for e in out.get("events", []) if e["message"].startswith("REPORT")]
        token = out.get("nextToken")
        if not token:
            break
    del body
    return lines


def field(line, label):
    for part in line.split("\t"):
        if part.startswith(label + ": "):
            return float(part.split(": ")[1].split()[0])
    return None


def skyport_cpu(pid):
    """CPU seconds of the Skyport process alone (not its children: the local executor's runtimes)."""
    fields = harness._stat(pid)
    return (int(fields[11]) + int(fields[12])) / harness.CLK_TCK


def skyport_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024


def warm(port, pid, name, conns, seconds):
    path = f"/2015-03-31/functions/{name}/invocations"
    args = ["POST", harness.authorization("lambda"), harness.AMZ_DATE, "0", "application/json", "-", "{}"]
    before = len(report_lines(port, name))
    c0 = skyport_cpu(pid)
    text = subprocess.run(["wrk", "-t", "1", "-c", str(conns), "-d", f"{seconds}s", "--timeout", "10s", "--latency",
                           "-s", os.path.join(harness.LUA_DIR, "static.lua"), f"http://127.0.0.1:{port}{path}",
                           "--", *args], capture_output=True, text=True, check=True).stdout
    cpu = skyport_cpu(pid) - c0
    rps = float(text.split("Requests/sec:")[1].split()[0])
    total = int(text.split(" requests in ")[0].split()[-1])
    p50 = harness.parse_latency(text, "50%")
    p99 = harness.parse_latency(text, "99%")
    time.sleep(1.0)
    reports = report_lines(port, name)[before:]
    durations = sorted(d for d in (field(l, "Duration") for l in reports) if d is not None)
    fn_p50 = statistics.median(durations) if durations else 0.0
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "function_p50_ms": fn_p50,
            "added_p50_ms": p50 - fn_p50, "skyport_cpu_us_per_invoke": cpu / max(total, 1) * 1e6,
            "invocations": total}


def url_rate(port, url_id, conns, seconds):
    """wrk against the function's URL (`<url-id>.lambda-url.us-east-1.localhost.localstack.cloud`, sent to
    127.0.0.1 with that Host header: no name is resolved)."""
    host = f"{url_id}.lambda-url.us-east-1.localhost.localstack.cloud:{port}"
    text = subprocess.run(["wrk", "-t", "1", "-c", str(conns), "-d", f"{seconds}s", "--timeout", "10s", "--latency",
                           "-H", f"Host: {host}", f"http://127.0.0.1:{port}/"],
                          capture_output=True, text=True, check=True).stdout
    return {"rps": float(text.split("Requests/sec:")[1].split()[0]),
            "p50_ms": harness.parse_latency(text, "50%"), "p99_ms": harness.parse_latency(text, "99%")}


def docker_bare_start(image, reps=3):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run(["docker", "run", "--rm", "--entrypoint", "/bin/sh", image, "-c", "true"], check=True,
                       capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def cold_starts(port, name, reps=3):
    """Forces a new environment (a configuration change) and times the first invoke; the REPORT's Init
    Duration is the runtime's own start (container start to its first `invocation/next`)."""
    out = []
    for i in range(reps):
        api(port, "PUT", f"/2015-03-31/functions/{name}/configuration", {"Environment": {"Variables": {"RUN": str(i)}}})
        wait_state(port, name)
        total_ms, headers, _ = invoke(port, name)
        time.sleep(0.5)
        report = [l for l in report_lines(port, name) if "Init Duration" in l][-1]
        out.append({"total_ms": total_ms, "init_ms": field(report, "Init Duration"),
                    "duration_ms": field(report, "Duration")})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    harness.ensure_tools()
    if not a.no_build:
        harness.log("building skyport (release)")
        subprocess.run(["cargo", "build", "--release", "--bin", "skyport"], cwd=ROOT, check=True)
    harness.log("building the runtime images")
    built = subprocess.run(["bash", os.path.join(ROOT, "tests/lambda_images/build.sh")], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout
    mapping = json.dumps({"python3.11": "skyport-test/lambda-python:3.11",
                          "provided.al2023": "skyport-test/lambda-provided:al2023"})
    rust_zip = open(os.path.join(ROOT, "target/lambda-functions/rust_callback.zip"), "rb").read()
    results = {"load_before": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    network = f"skyport-bench-{os.getpid()}"
    subprocess.run(["docker", "network", "create", network], check=True, capture_output=True)
    try:
        for executor in ("local", "docker"):
            port = harness.free_port()
            state = tempfile.mkdtemp(prefix="skyport-bench-lambda-")
            env = {"GATEWAY_LISTEN": f"127.0.0.1:{port}", "SKYPORT_STATE_DIR": state, "LAMBDA_EXECUTOR": executor,
                   "LAMBDA_DOCKER_NETWORK": network, "LAMBDA_RUNTIME_IMAGE_MAPPING": mapping,
                   "DNS_ADDRESS": "127.0.0.1", "DNS_PORT": "0", "OVERRIDE_IN_DOCKER": "0"}
            server = harness.Server([SKYPORT, "start"], env=env, ready_line="Ready.", port=port)
            try:
                create(port, "py-noop", "python3.11", "handler.main", zipped("handler.py", PY_NOOP))
                create(port, "rs-noop", "provided.al2023", "noop", rust_zip)
                r = results.setdefault(executor, {})
                for name in ("py-noop", "rs-noop"):
                    payload = b'{"echo_size": 1}' if name == "rs-noop" else b"{}"
                    invoke(port, name, payload)
                    for conns in (1, 10):
                        harness.log(f"{executor} {name} warm, {conns} conn")
                        r[f"{name} c{conns}"] = warm(port, server.pid, name, conns, a.seconds)
                    if executor == "docker":
                        r[f"{name} cold"] = cold_starts(port, name)
                # The same no-op function through its function URL (issue #19), beside the direct Invoke.
                if executor == "local":
                    _, _, data = api(port, "POST", "/2021-10-31/functions/py-noop/url", {"AuthType": "NONE"})
                    url_id = json.loads(data)["FunctionUrl"].split("//", 1)[1].split(".", 1)[0]
                    api(port, "POST", "/2015-03-31/functions/py-noop/policy",
                        {"StatementId": "url", "Action": "lambda:InvokeFunctionUrl", "Principal": "*",
                         "FunctionUrlAuthType": "NONE"})
                    for conns in (1, 10):
                        harness.log(f"{executor} py-noop function URL, {conns} conn")
                        results.setdefault("url", {})[f"c{conns}"] = url_rate(port, url_id, conns, a.seconds)
                # 50 warm environments: 50 concurrent invokes of a sleeping function.
                create(port, "py-sleep", "python3.11", "handler.main", zipped("handler.py", PY_SLEEP), timeout=60)
                import concurrent.futures
                with concurrent.futures.ThreadPoolExecutor(50) as pool:
                    list(pool.map(lambda _: invoke(port, "py-sleep", b'{"sleep": 3}'), range(50)))
                r["rss_mib_50_warm_envs"] = skyport_rss_mib(server.pid)
                r["rss_mib_idle_before"] = None
            finally:
                server.stop()
    finally:
        subprocess.run(["docker", "network", "rm", network], capture_output=True)
    results["docker_bare_start_ms"] = {img: docker_bare_start(img) for img in
                                       ("skyport-test/lambda-python:3.11", "skyport-test/lambda-provided:al2023")}
    results["load_after"] = os.getloadavg()[0]
    with open(os.path.join(ROOT, "bench", "lambda-results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(markdown(results))
    del built


def markdown(r):
    out = [f"- Date: {r['date']}; load average {r['load_before']:.1f} before, {r['load_after']:.1f} after", ""]
    out.append("| Executor | Function | Conns | invokes/s | p50 / p99 (ms) | function's own p50 (ms) | Skyport added p50 (ms) | Skyport CPU per invoke (µs) |")
    out.append("|---|---|---|---|---|---|---|---|")
    for executor in ("local", "docker"):
        for key, v in r.get(executor, {}).items():
            if not isinstance(v, dict):
                continue
            name, conns = key.rsplit(" c", 1)
            out.append(f"| {executor} | {name} | {conns} | {v['rps']:,.0f} | {v['p50_ms']:.2f} / {v['p99_ms']:.2f} | "
                       f"{v['function_p50_ms']:.2f} | {v['added_p50_ms']:.2f} | {v['skyport_cpu_us_per_invoke']:.0f} |")
    out.append("")
    out.append("| Cold start (docker) | total (ms) | runtime init: container start to its first `invocation/next` (ms) | "
               "container creation, code copy and Skyport's work: total - init - function (ms) | bare `docker run` of the image (ms) | "
               "Skyport's share: that minus the bare run |")
    out.append("|---|---|---|---|---|---|")
    for name, image in (("py-noop", "skyport-test/lambda-python:3.11"), ("rs-noop", "skyport-test/lambda-provided:al2023")):
        runs = r.get("docker", {}).get(f"{name} cold", [])
        if not runs:
            continue
        total = statistics.median(x["total_ms"] for x in runs)
        init = statistics.median(x["init_ms"] or 0 for x in runs)
        duration = statistics.median(x["duration_ms"] or 0 for x in runs)
        bare = r["docker_bare_start_ms"][image]
        rest = total - init - duration
        share = max(rest - bare, 0.0)
        out.append(f"| {name} | {total:.0f} | {init:.0f} | {rest:.0f} | {bare:.0f} | {share:.0f} ({share / total * 100:.0f} % of the total) |")
    if "url" in r:
        out.append("")
        out.append("| py-noop (local executor) | Conns | requests/s | p50 / p99 (ms) | direct Invoke requests/s |")
        out.append("|---|---|---|---|---|")
        for key, v in r["url"].items():
            direct = r.get("local", {}).get(f"py-noop {key}", {}).get("rps", 0.0)
            out.append(f"| function URL | {key[1:]} | {v['rps']:,.0f} | {v['p50_ms']:.2f} / {v['p99_ms']:.2f} | {direct:,.0f} |")
    out.append("")
    for executor in ("local", "docker"):
        if executor in r:
            out.append(f"- Skyport's RSS with 50 warm environments ({executor}): {r[executor]['rss_mib_50_warm_envs']:.1f} MiB")
    return "\n".join(out)


if __name__ == "__main__":
    main()
