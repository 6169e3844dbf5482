#!/usr/bin/env python3
"""ECR's registry in figures, side by side with the Distribution registry (Debian's `docker-registry`):
push and pull of a 1 GiB single-layer image and of a 200-layer image (1 GiB in all) through the registry
API as the Docker CLI drives it (the Docker daemon itself cannot build a 200-layer image: overlay2 stops at
125 layers).

    apt-get install docker-registry             # the peer (not started as a service: this script runs it)
    compose/build-local.sh                      # or any release build of skyport
    python3 bench/ecr.py [--skyport target/x86_64-unknown-linux-gnu/release/skyport]

Layers are random files (nothing compresses). A push uploads each blob as the Docker CLI does (POST,
one streamed PATCH, PUT with the digest; five blobs at a time), then the manifest; a pull reads the manifest
and every blob (three at a time). For each phase: wall time, throughput in MiB/s of image data, server CPU
(user+system from /proc/<pid>/stat) per GiB, and the server's peak RSS while the phase ran (VmRSS polled
every 20 ms; the registry's VmHWM too). Both registries keep blobs on disk under a temporary directory,
Skyport in memory-less mode (PERSISTENCE=0, blobs in its scratch directory). Prints one JSON object;
traffic stays on this machine.
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

MIB = 1024 * 1024
GIB = 1024 * MIB


def run(*args, env=None, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, env=env)


def free_block(n):
    for base in range(21000, 60000, 17):
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise SystemExit("no free ports")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Peak:
    """Polls a process's VmRSS every 20 ms while a phase runs."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0, False
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def poll(self):
        while not self.stop:
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except OSError:
                return
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()


def make_layers(work, sizes):
    """Random (incompressible) layer files with their sha256 digests."""
    import hashlib
    layers = []
    for i, size in enumerate(sizes):
        path = os.path.join(work, f"layer-{len(sizes)}-{i}")
        h = hashlib.sha256()
        with open(path, "wb") as f:
            left = size
            while left:
                chunk = os.urandom(min(left, 16 * MIB))
                h.update(chunk)
                f.write(chunk)
                left -= len(chunk)
        layers.append((path, size, "sha256:" + h.hexdigest()))
    return layers


def wait_http(url, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def start_skyport(binary, work):
    gateway = free_block(1)
    first = free_block(4) if free_block(4) != gateway else free_block(4) + 10
    env = dict(os.environ, GATEWAY_LISTEN=f"127.0.0.1:{gateway}", SKYPORT_STATE_DIR=os.path.join(work, "skyport"),
               EXTERNAL_SERVICE_PORTS_START=str(first), EXTERNAL_SERVICE_PORTS_END=str(first + 3),
               DNS_ADDRESS="0")
    proc = subprocess.Popen([binary, "start"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{gateway}"
    wait_http(endpoint + "/_localstack/health")
    # Login and repositories through the ECR API (boto3, test credentials).
    import boto3
    ecr = boto3.client("ecr", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode().split(":", 1)[1]
    for repo in ("skyport-bench/single", "skyport-bench/layered"):
        ecr.create_repository(repositoryName=repo)
    # The registry's port (reserved from the external range once ECR is used).
    with urllib.request.urlopen(endpoint + "/_skyport/ports") as r:
        ports = json.load(r)
    entries = ports.get("ports", ports) if isinstance(ports, dict) else ports
    registry = next((f"127.0.0.1:{p['port']}" for p in entries if p.get("owner") == "ecr"), None)
    if registry is None:
        raise SystemExit(f"no ECR port in {ports}")
    return proc, registry, password


def start_distribution(work):
    port = free_block(1)
    data = os.path.join(work, "distribution")
    os.makedirs(data)
    config = os.path.join(work, "registry.yml")
    with open(config, "w") as f:
        f.write(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
""")
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    proc = subprocess.Popen([binary, "serve", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/v2/")
    return proc, f"127.0.0.1:{port}", None


def phase(pid, action):
    cpu0 = cpu_seconds(pid)
    with Peak(pid) as peak:
        t0 = time.monotonic()
        action()
        wall = time.monotonic() - t0
    cpu = cpu_seconds(pid) - cpu0
    return {"seconds": round(wall, 2), "mib_per_s": round(1024 / wall, 1),
            "server_cpu_s_per_gib": round(cpu, 2), "peak_rss_mib": round(peak.peak / 1024, 1)}


class Client:
    """The registry API as the Docker CLI drives it: blob uploads as a POST then one streamed PATCH and a
    PUT with the digest, five layers at a time; a manifest PUT; pulls as manifest and blob GETs."""

    def __init__(self, registry, password):
        self.host, port = registry.split(":")
        self.port = int(port)
        self.auth = None
        if password:
            self.auth = "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()

    def request(self, method, path, body=None, headers=None, sink=False):
        import http.client
        conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        h = dict(headers or {})
        if self.auth:
            h["Authorization"] = self.auth
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        if sink:
            while r.read(1 << 20):
                pass
            data = b""
        else:
            data = r.read()
        conn.close()
        if r.status >= 400:
            raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
        return r, data

    def upload(self, repo, path, size, digest):
        r, _ = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        location = r.getheader("Location")
        if location.startswith("http"):
            location = "/" + location.split("/", 3)[3]
        with open(path, "rb") as f:
            r, _ = self.request("PATCH", location, body=f,
                                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        location = r.getheader("Location") or location
        if location.startswith("http"):
            location = "/" + location.split("/", 3)[3]
        sep = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{sep}digest={digest}", body=b"", headers={"Content-Length": "0"})

    def push(self, repo, layers):
        from concurrent.futures import ThreadPoolExecutor
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [d for _, _, d in layers]}}).encode()
        import hashlib
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        cfg_path = os.path.join(os.path.dirname(layers[0][0]), f"config-{len(layers)}")
        with open(cfg_path, "wb") as f:
            f.write(config)
        with ThreadPoolExecutor(5) as pool:
            list(pool.map(lambda l: self.upload(repo, *l), layers + [(cfg_path, len(config), config_digest)]))
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                       "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": size, "digest": d}
                       for _, size, d in layers]}).encode()
        self.request("PUT", f"/v2/{repo}/manifests/bench", body=manifest,
                     headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})

    def pull(self, repo):
        from concurrent.futures import ThreadPoolExecutor
        _, data = self.request("GET", f"/v2/{repo}/manifests/bench",
                               headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        manifest = json.loads(data)
        digests = [manifest["config"]["digest"]] + [l["digest"] for l in manifest["layers"]]
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda d: self.request("GET", f"/v2/{repo}/blobs/{d}", sink=True), digests))


def measure(proc, registry, password, images):
    client = Client(registry, password)
    out = {}
    for label, (repo, layers) in images.items():
        push = phase(proc.pid, lambda: client.push(repo, layers))
        pull = phase(proc.pid, lambda: client.pull(repo))
        out[label] = {"push": push, "pull": pull}
    out["rss_after_mib"] = round(rss_kib(proc.pid) / 1024, 1)
    out["hwm_mib"] = round(rss_kib(proc.pid, "VmHWM") / 1024, 1)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--skyport", default="target/x86_64-unknown-linux-gnu/release/skyport")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="skyport-ecr-bench-")
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "load": os.getloadavg()[0]}
    try:
        images = {
            "single-layer 1 GiB": ("skyport-bench/single", make_layers(work, [GIB])),
            "200 layers, 1 GiB": ("skyport-bench/layered", make_layers(work, [GIB // 200] * 200)),
        }
        for name, start in (("skyport", lambda: start_skyport(args.skyport, work)),
                            ("distribution", lambda: start_distribution(work))):
            proc, registry, password = start()
            try:
                results[name] = measure(proc, registry, password, images)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
