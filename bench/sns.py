#!/usr/bin/env python3
"""SNS benchmarks (issue #23), Skyport and moto in one run:

- Publish to a topic with 10 SQS subscriptions (AWS's signed JSON envelope; `--raw` for raw delivery):
  publishes/s from 1 and 8 connections, and the delay
  from Publish to the message being receivable in each queue (p50/p99 per queue, one receiver per
  queue long-polling while messages are published at a steady pace);
- filter-policy evaluation with 100 subscriptions whose policies (on message attributes) the messages
  do not match: server CPU per Publish, against the same topic without subscriptions; the difference
  divided by 100 is the cost of one policy evaluation.

    python3 bench/sns.py                      # prints Markdown tables, writes bench/sns-results.json
    python3 bench/sns.py --seconds 5 --peers skyport --no-build

It builds Skyport (release; `CARGO_TARGET_DIR` is honoured) and uses the main harness (`bench/run.py`)
for processes and CPU; traffic goes only to 127.0.0.1. Both emulators are driven over the wire with a
keep-alive client (query protocol for SNS, JSON for SQS), no SDK in the figures. Figures are one run
each; the machine's load is printed with them.
"""
import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402

if os.environ.get("CARGO_TARGET_DIR"):
    harness.SKYPORT = os.path.join(os.environ["CARGO_TARGET_DIR"], "release", "skyport")

FORM = "application/x-www-form-urlencoded"


class Conn:
    """A keep-alive client: SNS over the query protocol, SQS over JSON."""

    def __init__(self, port, timeout=60):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def _post(self, service, body, headers):
        hdrs = {"Authorization": harness.authorization(service), "X-Amz-Date": harness.AMZ_DATE, **headers}
        self.conn.request("POST", "/", body=body, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{service}: HTTP {resp.status}: {data[:300]!r}")
        return data

    def sns(self, action, params):
        body = urllib.parse.urlencode({"Action": action, "Version": "2010-03-31", **params})
        return self._post("sns", body.encode(), {"Content-Type": FORM}).decode()

    def sqs(self, target, payload):
        data = self._post("sqs", json.dumps(payload).encode(),
                          {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AmazonSQS.{target}"})
        return json.loads(data or b"{}")

    def close(self):
        self.conn.close()


def tag(xml, name):
    m = re.search(f"<{name}>([^<]*)</{name}>", xml)
    if not m:
        raise RuntimeError(f"no {name} in {xml[:300]}")
    return m.group(1)


def attributes(prefix, mapping):
    out = {}
    for i, (k, v) in enumerate(mapping.items(), 1):
        out[f"{prefix}.entry.{i}.key"] = k
        out[f"{prefix}.entry.{i}.value"] = v
    return out


def setup(port, topic_name, queues, policy=None, raw=False):
    """A topic with `queues` SQS subscriptions (the signed envelope, or raw delivery; each with
    `policy(i)` when given)."""
    c = Conn(port)
    try:
        topic = tag(c.sns("CreateTopic", {"Name": topic_name}), "TopicArn")
        urls = []
        for i in range(queues):
            url = c.sqs("CreateQueue", {"QueueName": f"{topic_name}-{i}"})["QueueUrl"]
            arn = c.sqs("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["QueueArn"]})["Attributes"]["QueueArn"]
            attrs = {"RawMessageDelivery": "true" if raw else "false"}
            if policy:
                attrs["FilterPolicy"] = json.dumps(policy(i))
            c.sns("Subscribe", {"TopicArn": topic, "Protocol": "sqs", "Endpoint": arn,
                                **attributes("Attributes", attrs)})
            urls.append(url)
        return topic, urls
    finally:
        c.close()


def publish_rate(port, topic, conns, seconds, params=None):
    params = params or {}
    counts = [0] * conns

    def worker(i):
        c = Conn(port)
        end = time.perf_counter() + seconds
        try:
            while time.perf_counter() < end:
                c.sns("Publish", {"TopicArn": topic, "Message": "m", **params})
                counts[i] += 1
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts), time.perf_counter() - t0


def depth(port, urls):
    c = Conn(port)
    try:
        return sum(int(c.sqs("GetQueueAttributes", {"QueueUrl": u, "AttributeNames": ["ApproximateNumberOfMessages"]})
                       ["Attributes"]["ApproximateNumberOfMessages"]) for u in urls)
    finally:
        c.close()


def fan_out_rate(port, topic, urls, conns, seconds):
    """Publishes/s accepted, and publishes/s delivered to every queue (Publish answers before delivery:
    the second figure waits until all 10 queues hold every message)."""
    purge(port, urls)
    time.sleep(0.5)
    t0 = time.perf_counter()
    count, elapsed = publish_rate(port, topic, conns, seconds)
    deadline = time.perf_counter() + 300
    while depth(port, urls) < count * len(urls) and time.perf_counter() < deadline:
        time.sleep(0.05)
    return {"accepted_per_s": count / elapsed, "delivered_per_s": count / (time.perf_counter() - t0),
            "published": count}


def purge(port, urls):
    c = Conn(port)
    try:
        for url in urls:
            c.sqs("PurgeQueue", {"QueueUrl": url})
    finally:
        c.close()


def delays(port, topic, urls, messages, interval):
    """Publishes `messages` (one per `interval` s) and measures when each queue can receive each."""
    sent, seen = {}, {url: {} for url in urls}
    done = threading.Event()

    def receiver(url):
        c = Conn(port)
        try:
            while not done.is_set() and len(seen[url]) < messages:
                out = c.sqs("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1})
                now = time.perf_counter()
                entries = []
                for m in out.get("Messages", []):
                    body = m["Body"]
                    if body.startswith("{"):
                        body = json.loads(body)["Message"]
                    seen[url].setdefault(body, now)
                    entries.append({"Id": str(len(entries)), "ReceiptHandle": m["ReceiptHandle"]})
                if entries:
                    c.sqs("DeleteMessageBatch", {"QueueUrl": url, "Entries": entries})
        finally:
            c.close()

    threads = [threading.Thread(target=receiver, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    time.sleep(0.5)
    c = Conn(port)
    try:
        for i in range(messages):
            body = f"msg-{i}"
            sent[body] = time.perf_counter()
            c.sns("Publish", {"TopicArn": topic, "Message": body})
            time.sleep(interval)
    finally:
        c.close()
    deadline = time.time() + 30
    while any(len(s) < messages for s in seen.values()) and time.time() < deadline:
        time.sleep(0.1)
    done.set()
    for t in threads:
        t.join()
    per_queue = []
    for url in urls:
        lat = sorted((seen[url][b] - sent[b]) * 1000 for b in seen[url] if b in sent)
        if not lat:
            per_queue.append(None)
            continue
        per_queue.append({"received": len(lat), "p50_ms": lat[len(lat) // 2],
                          "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))]})
    return per_queue


def filter_cost(peer, seconds):
    """CPU per Publish with 100 non-matching filter policies, and without subscriptions."""
    def policy(i):
        return {"store": [f"store-{i}"], "price": [{"numeric": [">", i]}], "kind": [{"anything-but": ["x"]}]}

    topic, _ = setup(peer.port, "filtered", 100, policy)
    bare = tag(Conn(peer.port).sns("CreateTopic", {"Name": "bare"}), "TopicArn")
    params = {
        "MessageAttributes.entry.1.Name": "store", "MessageAttributes.entry.1.Value.DataType": "String",
        "MessageAttributes.entry.1.Value.StringValue": "nowhere",
        "MessageAttributes.entry.2.Name": "price", "MessageAttributes.entry.2.Value.DataType": "Number",
        "MessageAttributes.entry.2.Value.StringValue": "1000",
    }
    out = {}
    for name, arn in (("filtered", topic), ("bare", bare)):
        cpu0 = harness.cpu_seconds(peer.pid)
        t0 = time.perf_counter()
        count, _ = publish_rate(peer.port, arn, 1, seconds, params)
        elapsed = time.perf_counter() - t0
        rate = count / elapsed
        cpu = harness.cpu_seconds(peer.pid) - cpu0
        out[name] = {"rps": rate, "server_cpu_us_per_publish": cpu / (rate * elapsed) * 1e6}
    out["us_per_evaluation"] = (out["filtered"]["server_cpu_us_per_publish"]
                                - out["bare"]["server_cpu_us_per_publish"]) / 100
    return out


def fmt(v, digits=0):
    return "n/a" if v is None else f"{v:,.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--interval-ms", type=float, default=20)
    ap.add_argument("--peers", default="skyport,moto")
    ap.add_argument("--raw", action="store_true", help="RawMessageDelivery (no envelope, no signature)")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "skyport"], cwd=harness.ROOT, check=True)
    moto = harness.moto_server() if "moto" in a.peers else None
    results = {"load": os.getloadavg(), "seconds": a.seconds, "messages": a.messages, "raw": a.raw,
               "interval_ms": a.interval_ms, "peers": {}}
    for name in a.peers.split(","):
        harness.log(f"{name}: starting")
        peer = harness.start_peer(name, moto, None)
        r = {}
        try:
            topic, urls = setup(peer.port, "fanout", 10, raw=a.raw)
            harness.log(f"{name}: Publish rate, 10 subscriptions")
            cpu0 = harness.cpu_seconds(peer.pid)
            r["publish_1"] = fan_out_rate(peer.port, topic, urls, 1, a.seconds)
            r["publish_8"] = fan_out_rate(peer.port, topic, urls, 8, a.seconds)
            r["cpu_s"] = harness.cpu_seconds(peer.pid) - cpu0
            purge(peer.port, urls)
            time.sleep(1)
            harness.log(f"{name}: Publish to receivable delay")
            r["delays"] = delays(peer.port, topic, urls, a.messages, a.interval_ms / 1000)
            harness.log(f"{name}: filter policies, 100 subscriptions")
            r["filters"] = filter_cost(peer, a.seconds)
            r["rss_mib"] = harness.rss_kib(peer.pid) / 1024
        except Exception as e:  # one peer failing does not hide the other's figures
            r["error"] = str(e)
            harness.log(f"{name}: {e}")
        finally:
            peer.stop()
        results["peers"][name] = r
    out_name = "sns-raw-results.json" if a.raw else "sns-results.json"
    with open(os.path.join(harness.ROOT, "bench", out_name), "w") as f:
        json.dump(results, f, indent=2)
    peers = list(results["peers"])
    names = [harness.PEER_NAMES.get(p, p) for p in peers]
    print(f"\nload average {results['load'][0]:.2f}; {a.seconds} s per rate; {a.messages} messages, "
          f"one per {a.interval_ms:g} ms, for the delays\n")
    print("| Figure | " + " | ".join(names) + " | ratio |")
    print("|---|" + "---|" * (len(peers) + 1))

    def row(label, values, digits=0, higher_better=True):
        ratio = ""
        if len(values) == 2 and all(v for v in values):
            ratio = f"{(values[0] / values[1]) if higher_better else (values[1] / values[0]):.1f}x"
        print(f"| {label} | " + " | ".join(fmt(v, digits) for v in values) + f" | {ratio} |")

    get = lambda p, *keys: _dig(results["peers"][p], keys)  # noqa: E731
    kind = "raw" if a.raw else "signed envelope"
    for conns in (1, 8):
        row(f"Publish/s accepted, 10 SQS subscriptions ({kind}), {conns} conn.",
            [get(p, f"publish_{conns}", "accepted_per_s") for p in peers])
        row(f"Publish/s delivered to all 10 queues ({kind}), {conns} conn.",
            [get(p, f"publish_{conns}", "delivered_per_s") for p in peers])
    for stat in ("p50_ms", "p99_ms"):
        vals = []
        for p in peers:
            d = get(p, "delays") or []
            got = [q[stat] for q in d if q]
            vals.append(max(got) if got else None)
        row(f"Publish → receivable, {stat[:3]} (ms, worst of 10 queues)", vals, 1, higher_better=False)
    row("Server CPU per Publish, 100 non-matching filter policies (µs)",
        [get(p, "filters", "filtered", "server_cpu_us_per_publish") for p in peers], 0, higher_better=False)
    row("Server CPU per Publish, no subscriptions (µs)",
        [get(p, "filters", "bare", "server_cpu_us_per_publish") for p in peers], 0, higher_better=False)
    row("Per filter-policy evaluation (µs)",
        [get(p, "filters", "us_per_evaluation") for p in peers], 2, higher_better=False)
    for p in peers:
        d = get(p, "delays") or []
        cells = ", ".join("n/a" if q is None else f"{q['p50_ms']:.1f}/{q['p99_ms']:.1f}" for q in d)
        print(f"\n{harness.PEER_NAMES.get(p, p)} per queue p50/p99 ms: {cells}")
        if results["peers"][p].get("error"):
            print(f"{p} error: {results['peers'][p]['error']}")


def _dig(d, keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


if __name__ == "__main__":
    main()
