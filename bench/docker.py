#!/usr/bin/env python3
"""Skyport's image in figures: size, container start to healthy, idle RSS in the container.

    compose/build-local.sh                       # builds skyport/skyport:local offline
    python3 bench/docker.py                      # 5 starts of skyport/skyport:local
    python3 bench/docker.py --image me/skyport:dev --runs 10

For each run it creates a container with `docker run -d` (random host port for 4566, Docker's health
check every 100 ms instead of the image's 2 s so the poll does not dominate), then measures from just
before `docker run` to (a) the first HTTP 200 from /_localstack/health through the published port and
(b) Docker reporting `healthy` (polled every 20 ms with `docker inspect`). After the last run it waits
2 s with the container idle and reads the process's VmRSS from /proc/<pid>/status on the host, and the
cgroup's memory as `docker stats` shows it. Prints one JSON object; everything stays on this machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import time
import urllib.request


def docker(*args):
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def health_ok(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localstack/health", timeout=0.5) as r:
            return r.status == 200
    except OSError:
        return False


def one_run(image, keep):
    t0 = time.monotonic()
    cid = docker("run", "-d", "-p", "127.0.0.1::4566", "--health-interval", "100ms",
                 "--health-start-period", "0s", "-e", "DNS_ADDRESS=0", image)
    try:
        port = int(docker("port", cid, "4566/tcp").splitlines()[0].rsplit(":", 1)[1])
        http_s = healthy_s = None
        while healthy_s is None and time.monotonic() - t0 < 30:
            if http_s is None and health_ok(port):
                http_s = time.monotonic() - t0
            status = docker("inspect", "-f", "{{.State.Health.Status}}", cid)
            if status == "healthy":
                healthy_s = time.monotonic() - t0
                if http_s is None and health_ok(port):
                    http_s = healthy_s
            else:
                time.sleep(0.02)
        return cid, http_s, healthy_s
    finally:
        if not keep:
            subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default="skyport/skyport:local")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    size = int(docker("image", "inspect", "-f", "{{.Size}}", a.image))
    http, healthy = [], []
    cid = None
    for i in range(a.runs):
        keep = i == a.runs - 1
        cid, h, d = one_run(a.image, keep)
        http.append(h)
        healthy.append(d)
    try:
        time.sleep(2)
        pid = docker("inspect", "-f", "{{.State.Pid}}", cid)
        rss_kib = None
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss_kib = int(line.split()[1])
        stats = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", cid)
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True)
    ok_http = [x for x in http if x is not None]
    ok_healthy = [x for x in healthy if x is not None]
    print(json.dumps({
        "image": a.image,
        "image_bytes": size,
        "runs": a.runs,
        "start_to_http_200_s": {"median": statistics.median(ok_http), "min": min(ok_http),
                                "max": max(ok_http)} if ok_http else None,
        "start_to_healthy_s": {"median": statistics.median(ok_healthy), "min": min(ok_healthy),
                               "max": max(ok_healthy)} if ok_healthy else None,
        "failed_runs": a.runs - len(ok_healthy),
        "idle_vmrss_kib": rss_kib,
        "docker_stats_mem": stats,
        "loadavg": os.getloadavg(),
    }, indent=1))


if __name__ == "__main__":
    main()
