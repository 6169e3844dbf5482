#!/usr/bin/env python3
"""ENFORCE_IAM=1 in figures: the server CPU a request costs with signature verification and policy
evaluation on, next to the same request with enforcement off, for STS GetCallerIdentity (verification
only: AWS never denies it) and S3 GetObject of a 1 KiB object, signed by the account's root
(verification only: nothing is evaluated for the root in its own account) and by a user with five
attached managed policies of ten statements each, the allowing statement last (verification plus
evaluation); `s3_evaluation_us_per_req` is the difference between the two GetObject rows.

    compose/build-local.sh                      # or any release build of skyport
    python3 bench/iam.py [--skyport target/x86_64-unknown-linux-gnu/release/skyport] [--seconds 10]

Both requests are presigned (SigV4 query authentication, signed once by botocore for the user) and
replayed by wrk (one thread, 8 connections), so the client costs the same in both modes. Server CPU is
user+system time from /proc/<pid>/stat over the run, per request. Prints one JSON object; traffic stays
on 127.0.0.1.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import boto3
from botocore.config import Config

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def start(binary, enforce):
    port = free_port()
    state = tempfile.mkdtemp(prefix="skyport-iam-bench-")
    env = dict(os.environ, GATEWAY_LISTEN=f"127.0.0.1:{port}", SKYPORT_STATE_DIR=state,
               ENFORCE_IAM="1" if enforce else "0", DNS_ADDRESS="0")
    proc = subprocess.Popen([binary, "start"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_localstack/health", timeout=1)
            return proc, port, state
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("Skyport did not start")


def client(service, port, key="test", secret="test"):
    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(signature_version="s3v4" if service == "s3" else None,
                                      s3={"addressing_style": "path"}))


def statement(i, j, last):
    if last:
        return {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bench/*"}
    return {"Sid": f"P{i}S{j}", "Effect": "Allow", "Action": [f"sqs:SendMessage", f"dynamodb:GetItem"],
            "Resource": f"arn:aws:sqs:us-east-1:000000000000:queue-{i}-{j}",
            "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}


def setup(port):
    """The bucket, the object and the user (five managed policies of ten statements); presigned URLs."""
    s3 = client("s3", port)
    s3.create_bucket(Bucket="bench")
    s3.put_object(Bucket="bench", Key="obj", Body=os.urandom(1024))
    iam = client("iam", port)
    iam.create_user(UserName="bench")
    for i in range(5):
        doc = {"Version": "2012-10-17",
               "Statement": [statement(i, j, i == 4 and j == 9) for j in range(10)]}
        arn = iam.create_policy(PolicyName=f"p{i}", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
        iam.attach_user_policy(UserName="bench", PolicyArn=arn)
    key = iam.create_access_key(UserName="bench")["AccessKey"]
    user_s3 = client("s3", port, key["AccessKeyId"], key["SecretAccessKey"])
    user_sts = client("sts", port, key["AccessKeyId"], key["SecretAccessKey"])
    return {
        # The account's root: its signature is verified, but nothing is evaluated in its own account.
        "s3_get_object_root": s3.generate_presigned_url(
            "get_object", Params={"Bucket": "bench", "Key": "obj"}, ExpiresIn=3600),
        "s3_get_object": user_s3.generate_presigned_url(
            "get_object", Params={"Bucket": "bench", "Key": "obj"}, ExpiresIn=3600),
        "sts_get_caller_identity": user_sts.generate_presigned_url(
            "get_caller_identity", ExpiresIn=3600, HttpMethod="GET"),
    }


def wrk(url, seconds, pid):
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(["wrk", "-t", "1", "-c", "8", "-d", f"{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu0
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rps": round(rps), "server_cpu_us_per_req": round(cpu / max(total, 1) * 1e6, 1),
            "non2xx": int(non2xx.group(1)) if non2xx else 0}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--skyport", default="target/x86_64-unknown-linux-gnu/release/skyport")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    results = {}
    for mode, enforce in (("off", False), ("on", True)):
        proc, port, state = start(args.skyport, enforce)
        try:
            urls = setup(port)
            for name, url in urls.items():
                urllib.request.urlopen(url).read()  # warm up: compiles the model, caches the policies
                results.setdefault(name, {})[mode] = wrk(url, args.seconds, proc.pid)
        finally:
            proc.kill()
            proc.wait()
            shutil.rmtree(state, ignore_errors=True)
    for r in results.values():
        r["added_us_per_req"] = round(r["on"]["server_cpu_us_per_req"] - r["off"]["server_cpu_us_per_req"], 1)
    # The same GetObject signed by the root (verification only) and by the user (verification and
    # evaluation): the difference is what evaluating the user's policies costs per request.
    results["s3_evaluation_us_per_req"] = round(
        results["s3_get_object"]["on"]["server_cpu_us_per_req"]
        - results["s3_get_object_root"]["on"]["server_cpu_us_per_req"], 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
