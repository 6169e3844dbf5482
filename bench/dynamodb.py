#!/usr/bin/env python3
"""DynamoDB benchmarks (issue #21), Skyport and moto in one run:

- PutItem and GetItem of a 1 KiB item at 1 and 64 connections (wrk: ops/s, p50, p99, server CPU/op);
- Query of 100 items from one partition (requests/s and items/s from one client);
- a full Scan of 100,000 items, page after page (items/s and server CPU per item);
- UpdateItem `ADD n :one` on a 1 KiB item at 1 and 64 connections: a write that changes the item every
  time, so with `--stream` each one makes a stream record (PutItem of the same item again changes
  nothing and records nothing, as on AWS);
- with `--rss-items N`, memory per item instead: RSS at idle, then N items of exactly 100 bytes (as
  DynamoDB counts an item's size) loaded with BatchWriteItem over several connections, RSS after the
  load, and the bytes of RSS each item added:

    python3 bench/dynamodb.py --peers skyport --no-build --rss-items 1000000
    python3 bench/dynamodb.py --peers skyport --no-build --rss-items 1000000 --skyport-bin /path/to/old/skyport

`--persistence` runs Skyport with `PERSISTENCE=1`; `--stream VIEW` gives the table a stream of that
view type (with persistence, each record is committed with its item):

    python3 bench/dynamodb.py --peers skyport --persistence --stream NEW_AND_OLD_IMAGES

    python3 bench/dynamodb.py                 # prints Markdown tables, writes bench/dynamodb-results.json
    python3 bench/dynamodb.py --seconds 5 --scan-items 20000 --peers skyport

It builds Skyport (release) and uses the main harness (`bench/run.py`) for processes, CPU, RSS and
wrk; traffic goes only to 127.0.0.1. Figures are one run each; the machine's load is printed with them.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402

AMZ_JSON = "application/x-amz-json-1.0"
TABLE = "bench"


class Db:
    """A keep-alive DynamoDB client speaking awsJson 1.0 directly (no SDK overhead in the figures)."""

    def __init__(self, port, timeout=300):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def call(self, op, payload):
        self.conn.request("POST", "/", body=json.dumps(payload).encode(), headers={
            "Authorization": harness.authorization("dynamodb"), "X-Amz-Date": harness.AMZ_DATE,
            "Content-Type": AMZ_JSON, "X-Amz-Target": f"DynamoDB_20120810.{op}"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{op}: HTTP {resp.status}: {data[:300]!r}")
        return json.loads(data or b"{}")

    def close(self):
        self.conn.close()


def item_1k(pk, sk="0"):
    return {"pk": {"S": pk}, "sk": {"N": sk}, "payload": {"S": "x" * 1000}}


def prepare(port, scan_items, stream=None):
    db = Db(port)
    try:
        table = {
            "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "N"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"}]}
        if stream:
            table["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
        db.call("CreateTable", table)
        db.call("PutItem", {"TableName": TABLE, "Item": item_1k("hot")})
        for start in range(0, 100, 25):
            db.call("BatchWriteItem", {"RequestItems": {TABLE: [
                {"PutRequest": {"Item": {"pk": {"S": "partition"}, "sk": {"N": str(i)}, "v": {"S": "y" * 100}}}}
                for i in range(start, start + 25)]}})
        t0 = time.perf_counter()
        for start in range(0, scan_items, 25):
            db.call("BatchWriteItem", {"RequestItems": {TABLE: [
                {"PutRequest": {"Item": {"pk": {"S": f"scan-{i}"}, "sk": {"N": "1"}, "v": {"S": "z" * 80}}}}
                for i in range(start, min(start + 25, scan_items))]}})
        load_s = time.perf_counter() - t0
    finally:
        db.close()
    return load_s


RSS_TABLE = "rss"
RSS_ITEM_BYTES = 100


def item_bytes(item):
    """An item's size as DynamoDB counts it, for the string and integer attributes used here."""
    def value(v):
        if "S" in v:
            return len(v["S"].encode())
        digits = v["N"].lstrip("-").lstrip("0").rstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    return sum(len(k.encode()) + value(v) for k, v in item.items())


def item_100(i):
    """Item `i` of the memory figure: 100 bytes (pk 2 + 10, sk 2 + 2, v 1 + 83)."""
    return {"pk": {"S": f"{i:010d}"}, "sk": {"N": "1"}, "v": {"S": "v" * 83}}


def load_slice(args):
    """Loads items `start..end` with BatchWriteItem on one connection (a worker process)."""
    port, start, end = args
    db = Db(port)
    try:
        for first in range(start, end, 25):
            request = {RSS_TABLE: [{"PutRequest": {"Item": item_100(i)}} for i in range(first, min(first + 25, end))]}
            while request:
                out = db.call("BatchWriteItem", {"RequestItems": request})
                request = out.get("UnprocessedItems") or {}
    finally:
        db.close()
    return end - start


def rss_bench(peer, items, conns=4):
    """RSS at idle, then after loading `items` items of 100 bytes over `conns` connections."""
    assert item_bytes(item_100(0)) == RSS_ITEM_BYTES, item_bytes(item_100(0))
    time.sleep(1)
    idle = harness.rss_kib(peer.pid)
    db = Db(peer.port)
    try:
        db.call("CreateTable", {
            "TableName": RSS_TABLE, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "N"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"}]})
        step = -(-items // conns)
        slices = [(peer.port, s, min(s + step, items)) for s in range(0, items, step)]
        t0 = time.perf_counter()
        with multiprocessing.Pool(len(slices)) as pool:
            loaded = sum(pool.map(load_slice, slices))
        secs = time.perf_counter() - t0
        time.sleep(1)
        after = harness.rss_kib(peer.pid)
        table = db.call("DescribeTable", {"TableName": RSS_TABLE})["Table"]
    finally:
        db.close()
    per_item = (after - idle) * 1024 / loaded
    return {"items": loaded, "item_bytes": RSS_ITEM_BYTES, "load_seconds": secs, "items_per_s": loaded / secs,
            "rss_idle_mib": idle / 1024, "rss_after_mib": after / 1024, "rss_bytes_per_item": per_item,
            "table_size_bytes": table["TableSizeBytes"], "item_count": table["ItemCount"]}


def wrk_op(peer, op, body, conns, seconds, reps):
    args = ["static.lua", ["POST", harness.authorization("dynamodb"), harness.AMZ_DATE, "0", AMZ_JSON,
                           f"DynamoDB_20120810.{op}", json.dumps(body)]]
    return harness.measure(peer.pid, f"http://127.0.0.1:{peer.port}/", conns, seconds, reps, *args)


def query_bench(peer, seconds):
    db = Db(peer.port)
    try:
        payload = {"TableName": TABLE, "KeyConditionExpression": "pk = :p",
                   "ExpressionAttributeValues": {":p": {"S": "partition"}}}
        out = db.call("Query", payload)
        assert out["Count"] == 100, out["Count"]
        cpu0 = harness.cpu_seconds(peer.pid)
        n, lat = 0, []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            db.call("Query", payload)
            lat.append((time.perf_counter() - t) * 1000)
            n += 1
        cpu = harness.cpu_seconds(peer.pid) - cpu0
        lat.sort()
        return {"rps": n / seconds, "items_per_s": n * 100 / seconds, "p50_ms": lat[len(lat) // 2],
                "p99_ms": lat[int(len(lat) * 0.99)], "server_cpu_us_per_op": cpu / n * 1e6}
    finally:
        db.close()


def scan_bench(peer, total):
    db = Db(peer.port)
    try:
        cpu0 = harness.cpu_seconds(peer.pid)
        t0 = time.perf_counter()
        seen, pages, start = 0, 0, None
        while True:
            payload = {"TableName": TABLE}
            if start:
                payload["ExclusiveStartKey"] = start
            out = db.call("Scan", payload)
            seen += out["Count"]
            pages += 1
            start = out.get("LastEvaluatedKey")
            if not start:
                break
        secs = time.perf_counter() - t0
        cpu = harness.cpu_seconds(peer.pid) - cpu0
        return {"items": seen, "pages": pages, "seconds": secs, "items_per_s": seen / secs,
                "server_cpu_us_per_item": cpu / max(seen, 1) * 1e6, "expected_at_least": total}
    finally:
        db.close()


def fmt(v, digits=0):
    return "n/a" if v is None else f"{v:,.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--scan-items", type=int, default=100_000)
    ap.add_argument("--peers", default="skyport,moto")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--persistence", action="store_true", help="run Skyport with PERSISTENCE=1")
    ap.add_argument("--stream", metavar="VIEW", help="give the table a stream (e.g. NEW_AND_OLD_IMAGES)")
    ap.add_argument("--rss-items", type=int, metavar="N",
                    help="measure RSS per item with N items of 100 bytes instead of the throughput figures")
    ap.add_argument("--skyport-bin", metavar="PATH", help="the skyport binary to run (default: target/release)")
    a = ap.parse_args()
    if a.skyport_bin:
        harness.SKYPORT = os.path.abspath(a.skyport_bin)
    if a.rss_items:
        return rss_main(a)
    if a.persistence:
        os.environ["PERSISTENCE"] = "1"
    if not shutil.which("wrk"):
        harness.log("installing wrk (apt)")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "skyport"], cwd=harness.ROOT, check=True)
    moto = harness.moto_server() if "moto" in a.peers else None
    results = {"load": os.getloadavg(), "seconds": a.seconds, "scan_items": a.scan_items,
               "persistence": a.persistence, "stream": a.stream, "peers": {}}
    for name in a.peers.split(","):
        harness.log(f"{name}: starting")
        peer = harness.start_peer(name, moto, None)
        r = {}
        try:
            r["load_items_s"] = prepare(peer.port, a.scan_items, a.stream)
            for conns in (1, 64):
                harness.log(f"{name}: PutItem/GetItem at {conns} connections")
                r[f"put_{conns}"] = wrk_op(peer, "PutItem", {"TableName": TABLE, "Item": item_1k("hot")},
                                           conns, a.seconds, a.reps)
                r[f"get_{conns}"] = wrk_op(peer, "GetItem", {"TableName": TABLE, "Key": {
                    "pk": {"S": "hot"}, "sk": {"N": "0"}}}, conns, a.seconds, a.reps)
                r[f"update_{conns}"] = wrk_op(peer, "UpdateItem", {
                    "TableName": TABLE, "Key": {"pk": {"S": "hot"}, "sk": {"N": "0"}},
                    "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}},
                    conns, a.seconds, a.reps)
            harness.log(f"{name}: Query")
            r["query"] = query_bench(peer, a.seconds)
            harness.log(f"{name}: Scan")
            r["scan"] = scan_bench(peer, a.scan_items)
            r["rss_mib"] = harness.rss_kib(peer.pid) / 1024
        except Exception as e:  # one peer failing does not hide the other's figures
            r["error"] = str(e)
            harness.log(f"{name}: {e}")
        finally:
            peer.stop()
        results["peers"][name] = r
    with open(os.path.join(harness.ROOT, "bench", "dynamodb-results.json"), "w") as f:
        json.dump(results, f, indent=2)
    peers = list(results["peers"])
    print(f"\nload average {results['load'][0]:.2f}; {a.seconds} s per figure; "
          f"persistence {'on' if a.persistence else 'off'}; stream {a.stream or 'none'}\n")
    print("| Operation | " + " | ".join(f"{harness.PEER_NAMES[p]} ops/s (p50 / p99 ms)" for p in peers) + " | ratio |")
    print("|---|" + "---|" * (len(peers) + 1))
    for key, label in [("put_1", "PutItem 1 KiB, 1 conn"), ("get_1", "GetItem 1 KiB, 1 conn"),
                       ("put_64", "PutItem 1 KiB, 64 conns"), ("get_64", "GetItem 1 KiB, 64 conns"),
                       ("update_1", "UpdateItem ADD (changes the item), 1 conn"),
                       ("update_64", "UpdateItem ADD (changes the item), 64 conns"),
                       ("query", "Query 100 items, 1 conn")]:
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
    cells = []
    for p in peers:
        s = results["peers"][p].get("scan")
        cells.append("failed" if not s else
                     f"{fmt(s['items_per_s'])} items/s, {fmt(s['server_cpu_us_per_item'], 1)} µs CPU/item")
    print(f"| Scan {a.scan_items:,} items | " + " | ".join(cells) + " | |")


def rss_main(a):
    results = {"load": os.getloadavg(), "rss_items": a.rss_items, "binary": harness.SKYPORT, "peers": {}}
    for name in a.peers.split(","):
        if name != "skyport":
            harness.log(f"{name}: the memory figure is Skyport's only; skipped")
            continue
        harness.log(f"{name}: loading {a.rss_items:,} items of {RSS_ITEM_BYTES} bytes")
        peer = harness.start_peer(name, None, None)
        try:
            results["peers"][name] = rss_bench(peer, a.rss_items)
        finally:
            peer.stop()
    with open(os.path.join(harness.ROOT, "bench", "dynamodb-rss-results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nload average {results['load'][0]:.2f}; {harness.SKYPORT}\n")
    print("| Peer | items | load (items/s) | RSS idle (MiB) | RSS after (MiB) | RSS per item (bytes) | vs data |")
    print("|---|---|---|---|---|---|---|")
    for p, r in results["peers"].items():
        print(f"| {harness.PEER_NAMES[p]} | {r['items']:,} | {fmt(r['items_per_s'])} | {fmt(r['rss_idle_mib'], 1)} | "
              f"{fmt(r['rss_after_mib'], 1)} | {fmt(r['rss_bytes_per_item'])} | "
              f"{r['rss_bytes_per_item'] / RSS_ITEM_BYTES:.2f}x |")


if __name__ == "__main__":
    main()
