#!/usr/bin/env python3
"""EventBridge benchmarks (issue #23), Skyport and moto in one run:

- PutEvents throughput: one event per request on keep-alive connections (wrk, 1 and 16 connections),
  with 10 enabled rules on the default bus all matching it, each with an SQS target;
- PutEvents to receivable in SQS: the delay from sending PutEvents to the event being received from
  each of the 10 queues (one long-polling reader per queue), p50 and p99 over all deliveries.

    python3 bench/events.py                  # prints Markdown tables, writes bench/events-results.json
    python3 bench/events.py --seconds 5 --samples 100 --peers skyport

It builds Skyport (release; `CARGO_TARGET_DIR` is honoured) and uses the main harness (`bench/run.py`)
for processes, CPU and wrk; traffic goes only to 127.0.0.1. Figures are one run each; the machine's
load is printed with them. Skyport accepts events first and delivers them in the background (as AWS
does), so the throughput figure is acceptance; the delay figure is what a consumer sees.
"""
import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402

AMZ_JSON_11 = "application/x-amz-json-1.1"
AMZ_JSON_10 = "application/x-amz-json-1.0"
RULES = 10
PATTERN = json.dumps({"source": ["bench.orders"], "detail-type": ["Order Placed"]})


class Api:
    """A keep-alive client for EventBridge (awsJson 1.1) and SQS (awsJson 1.0)."""

    def __init__(self, port, timeout=60):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def call(self, service, target, payload, ctype):
        self.conn.request("POST", "/", body=json.dumps(payload).encode(), headers={
            "Authorization": harness.authorization(service), "X-Amz-Date": harness.AMZ_DATE,
            "Content-Type": ctype, "X-Amz-Target": target})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{target}: HTTP {resp.status}: {data[:300]!r}")
        return json.loads(data or b"{}")

    def events(self, op, payload):
        return self.call("events", f"AWSEvents.{op}", payload, AMZ_JSON_11)

    def sqs(self, op, payload):
        return self.call("sqs", f"AmazonSQS.{op}", payload, AMZ_JSON_10)

    def close(self):
        self.conn.close()


def entry(marker="bench"):
    return {"Source": "bench.orders", "DetailType": "Order Placed",
            "Detail": json.dumps({"order": marker, "total": 42})}


def prepare(port):
    """10 queues and 10 rules (each routing the bench events to its own queue); the queue URLs."""
    api = Api(port)
    try:
        urls = []
        for i in range(RULES):
            url = api.sqs("CreateQueue", {"QueueName": f"bench-events-{i}"})["QueueUrl"]
            arn = api.sqs("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["QueueArn"]})
            api.events("PutRule", {"Name": f"bench-{i}", "EventPattern": PATTERN})
            api.events("PutTargets", {"Rule": f"bench-{i}", "Targets": [
                {"Id": "q", "Arn": arn["Attributes"]["QueueArn"]}]})
            urls.append(url)
        return urls
    finally:
        api.close()


def delay_bench(peer, urls, samples):
    """Per sample: one PutEvents, then each queue's reader reports when the event arrived."""
    arrivals = {}
    lock = threading.Lock()
    stop = threading.Event()

    def reader(url):
        api = Api(peer.port)
        try:
            while not stop.is_set():
                out = api.sqs("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1})
                now = time.perf_counter()
                for m in out.get("Messages", []):
                    marker = json.loads(m["Body"])["detail"]["order"]
                    with lock:
                        arrivals.setdefault(marker, []).append(now)
                    api.sqs("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"]})
        finally:
            api.close()

    threads = [threading.Thread(target=reader, args=(u,), daemon=True) for u in urls]
    for t in threads:
        t.start()
    time.sleep(0.5)
    api = Api(peer.port)
    delays, lost = [], 0
    try:
        for _ in range(samples):
            marker = uuid.uuid4().hex
            sent = time.perf_counter()
            api.events("PutEvents", {"Entries": [entry(marker)]})
            deadline = sent + 10
            while time.perf_counter() < deadline:
                with lock:
                    got = list(arrivals.get(marker, []))
                if len(got) >= len(urls):
                    break
                time.sleep(0.0005)
            lost += len(urls) - len(got)
            delays.extend((t - sent) * 1000 for t in got)
    finally:
        stop.set()
        api.close()
        for t in threads:
            t.join(timeout=5)
    delays.sort()
    if not delays:
        raise RuntimeError("no event reached a queue")
    return {"deliveries": len(delays), "lost": lost, "p50_ms": delays[len(delays) // 2],
            "p99_ms": delays[min(len(delays) - 1, int(len(delays) * 0.99))]}


def put_events_bench(peer, conns, seconds, reps):
    body = json.dumps({"Entries": [entry()]})
    args = ["static.lua", ["POST", harness.authorization("events"), harness.AMZ_DATE, "0", AMZ_JSON_11,
                           "AWSEvents.PutEvents", body]]
    return harness.measure(peer.pid, f"http://127.0.0.1:{peer.port}/", conns, seconds, reps, *args)


def fmt(v, digits=0):
    return "n/a" if v is None else f"{v:,.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--peers", default="skyport,moto")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(harness.ROOT, "target")
    harness.SKYPORT = os.path.join(target_dir, "release", "skyport")
    if not shutil.which("wrk"):
        harness.log("installing wrk (apt)")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "skyport"], cwd=harness.ROOT, check=True)
    moto = harness.moto_server() if "moto" in a.peers else None
    results = {"load": os.getloadavg(), "seconds": a.seconds, "samples": a.samples, "rules": RULES, "peers": {}}
    for name in a.peers.split(","):
        harness.log(f"{name}: starting")
        peer = harness.start_peer(name, moto, None)
        r = {}
        try:
            urls = prepare(peer.port)
            harness.log(f"{name}: PutEvents to receivable in {RULES} queues, {a.samples} samples")
            r["delay"] = delay_bench(peer, urls, a.samples)
            for conns in (1, 16):
                harness.log(f"{name}: PutEvents at {conns} connections")
                r[f"put_{conns}"] = put_events_bench(peer, conns, a.seconds, a.reps)
            r["rss_mib"] = harness.rss_kib(peer.pid) / 1024
        except Exception as e:  # one peer failing does not hide the other's figures
            r["error"] = str(e)
            harness.log(f"{name}: {e}")
        finally:
            peer.stop()
        results["peers"][name] = r
    with open(os.path.join(harness.ROOT, "bench", "events-results.json"), "w") as f:
        json.dump(results, f, indent=2)
    peers = list(results["peers"])
    print(f"\nload average {results['load'][0]:.2f}; {a.seconds} s per throughput figure; "
          f"{RULES} rules matching every event, each with an SQS target\n")
    print("| Measure | " + " | ".join(harness.PEER_NAMES[p] for p in peers) + " | ratio |")
    print("|---|" + "---|" * (len(peers) + 1))
    for key, label in [("put_1", "PutEvents (1 event), 1 conn: requests/s (p50 / p99 ms)"),
                       ("put_16", "PutEvents (1 event), 16 conns: requests/s (p50 / p99 ms)")]:
        cells, rates = [], []
        for p in peers:
            m = results["peers"][p].get(key)
            if not m:
                cells.append("failed")
                continue
            rates.append(m["rps"])
            cells.append(f"{fmt(m['rps'])} ({fmt(m['p50_ms'], 2)} / {fmt(m['p99_ms'], 2)})")
        ratio = f"{rates[0] / rates[1]:.1f}x" if len(rates) == 2 and rates[1] else ""
        print(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
    cells, p50s = [], []
    for p in peers:
        d = results["peers"][p].get("delay")
        if not d:
            cells.append("failed")
            continue
        p50s.append(d["p50_ms"])
        cells.append(f"{fmt(d['p50_ms'], 2)} / {fmt(d['p99_ms'], 2)} ms ({d['deliveries']} deliveries, {d['lost']} lost)")
    ratio = f"{p50s[1] / p50s[0]:.1f}x faster" if len(p50s) == 2 and p50s[0] else ""
    print(f"| PutEvents to receivable in SQS, p50 / p99 | " + " | ".join(cells) + f" | {ratio} |")


if __name__ == "__main__":
    main()
