#!/usr/bin/env python3
"""SQS -> Lambda benchmarks (issue #19): messages per second through an event source mapping to a
no-op Python function (batch 10), and the delay from SendMessage to the function seeing the message
(p50/p99, no batching window), with the local executor (host processes, no Docker).

    python3 bench/lambda_sqs.py                 # prints a Markdown table, writes bench/lambda_sqs-results.json
    python3 bench/lambda_sqs.py --messages 20000 --samples 500

It builds Skyport (release) unless --no-build, and sends traffic only to 127.0.0.1. The delay is
measured by the function itself: each message carries the time it was sent (the host clock, which
the function shares with the sender), and the function appends `now - sent` to a file. Figures are
one run each; the machine's load is printed with them.
"""
import argparse
import concurrent.futures
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402  (the main harness: processes, ports)

ROOT = harness.ROOT
SKYPORT = harness.SKYPORT
NOOP = "def main(event, context):\n    return None\n"
DELAY = """import json, os, time
OUT = os.environ["OUT"]
def main(event, context):
    now = time.time()
    with open(OUT, "a") as f:
        for r in event["Records"]:
            f.write("%f\\n" % ((now - float(json.loads(r["body"])["t"])) * 1000.0))
    return None
"""


def zipped(text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", text)
    return buf.getvalue()


def clients(port):
    kw = dict(endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
              aws_access_key_id="test", aws_secret_access_key="test")
    return boto3.client("lambda", **kw), boto3.client("sqs", **kw)


def function(lam, name, code, env=None):
    lam.create_function(FunctionName=name, Runtime="python3.11", Role="arn:aws:iam::000000000000:role/bench",
                        Handler="handler.main", Code={"ZipFile": zipped(code)}, Timeout=10,
                        Environment={"Variables": env or {}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def queue(sqs, name):
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def wait_mapping(lam, uuid, state):
    while lam.get_event_source_mapping(UUID=uuid)["State"] != state:
        time.sleep(0.01)


def depth(sqs, url):
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def throughput(port, messages, concurrency):
    lam, sqs = clients(port)
    function(lam, "noop", NOOP)
    url, arn = queue(sqs, "tput")
    m = lam.create_event_source_mapping(FunctionName="noop", EventSourceArn=arn, BatchSize=10, Enabled=False,
                                        ScalingConfig={"MaximumConcurrency": concurrency})
    wait_mapping(lam, m["UUID"], "Disabled")
    harness.log(f"filling the queue with {messages} messages")

    def fill(start):
        _, s = clients(port)
        for i in range(start, min(start + 1000, messages), 10):
            s.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": "x"}
                                                        for j in range(i, min(i + 10, messages))])
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(fill, range(0, messages, 1000)))
    # Warm the environments first, so the figure is the steady state.
    for _ in range(concurrency):
        lam.invoke(FunctionName="noop", Payload=b"{}")
    started = time.time()
    lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    while depth(sqs, url) > 0:
        time.sleep(0.02)
    elapsed = time.time() - started
    return {"messages": messages, "seconds": elapsed, "msgs_per_s": messages / elapsed,
            "concurrency": concurrency}


def delay(port, samples, gap):
    lam, sqs = clients(port)
    out = tempfile.mktemp(prefix="skyport-bench-delay-")
    function(lam, "probe", DELAY, {"OUT": out})
    url, arn = queue(sqs, "delay")
    m = lam.create_event_source_mapping(FunctionName="probe", EventSourceArn=arn, BatchSize=10)
    wait_mapping(lam, m["UUID"], "Enabled")
    lam.invoke(FunctionName="probe", Payload=json.dumps({"Records": []}).encode())
    for _ in range(samples + 20):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"t": "%f" % time.time()}))
        time.sleep(gap)
    deadline = time.time() + 30
    while time.time() < deadline:
        if os.path.exists(out) and sum(1 for _ in open(out)) >= samples + 20:
            break
        time.sleep(0.05)
    values = [float(x) for x in open(out).read().split()][20:]  # the first ones warm things up
    os.unlink(out)
    values.sort()
    return {"samples": len(values), "p50_ms": statistics.median(values),
            "p99_ms": values[min(len(values) - 1, int(len(values) * 0.99))], "max_ms": values[-1]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=5)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--gap-ms", type=float, default=20.0)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if not a.no_build:
        harness.log("building skyport (release)")
        subprocess.run(["cargo", "build", "--release", "--bin", "skyport"], cwd=ROOT, check=True)
    results = {"load_before": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "cpus": os.cpu_count()}
    port = harness.free_port()
    state = tempfile.mkdtemp(prefix="skyport-bench-lambda-sqs-")
    env = {"GATEWAY_LISTEN": f"127.0.0.1:{port}", "SKYPORT_STATE_DIR": state, "LAMBDA_EXECUTOR": "local",
           "DNS_ADDRESS": "0"}
    server = harness.Server([SKYPORT, "start"], env=env, ready_line="Ready.", port=port)
    try:
        harness.log("throughput")
        results["throughput"] = throughput(port, a.messages, a.concurrency)
        harness.log("SendMessage -> function delay")
        results["delay"] = delay(port, a.samples, a.gap_ms / 1000.0)
    finally:
        server.stop()
    results["load_after"] = os.getloadavg()[0]
    with open(os.path.join(ROOT, "bench", "lambda_sqs-results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(markdown(results))


def markdown(r):
    t, d = r["throughput"], r["delay"]
    return "\n".join([
        f"- Date: {r['date']}; {r['cpus']} CPUs; load average {r['load_before']:.1f} before, {r['load_after']:.1f} after",
        "",
        "| SQS -> Lambda (local executor, no-op Python) | figure |",
        "|---|---|",
        f"| messages/s through one mapping (batch 10, {t['concurrency']} pollers, {t['messages']} messages) | {t['msgs_per_s']:,.0f} |",
        f"| SendMessage -> function sees it, p50 / p99 (ms, {d['samples']} messages, no batching window) | "
        f"{d['p50_ms']:.2f} / {d['p99_ms']:.2f} |",
    ])


if __name__ == "__main__":
    main()
