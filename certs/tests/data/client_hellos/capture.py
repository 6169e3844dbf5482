# Re-captures the ClientHellos in this directory from real clients (curl, openssl s_client, boto3 and the
# official Rust SDK: `cargo build --example client_hello_sdk` first).
# It listens on 127.0.0.1 only, records the first TLS record each client sends, and closes.
# Run from this directory: python3 capture.py [file ...]
import os, socket, subprocess, sys, threading, time
def capture(out, cmd_for_port):
    # `python3 capture.py boto3-s3-us-west-2.bin` re-captures just the files named.
    if sys.argv[1:] and out not in sys.argv[1:]:
        return
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
    port = srv.getsockname()[1]
    p = subprocess.Popen(cmd_for_port(port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv.settimeout(10)
    conn, _ = srv.accept(); conn.settimeout(2)
    data = b""
    try:
        while True:
            # read the full record: header + length
            chunk = conn.recv(65536)
            if not chunk: break
            data += chunk
            if len(data) >= 5 and len(data) >= 5 + int.from_bytes(data[3:5], "big"): break
    except socket.timeout: pass
    conn.close(); srv.close(); p.kill(); p.wait()
    open(out, "wb").write(data)
    print(out, len(data))
capture("curl-h2-s3-us-east-1.bin", lambda p: ["curl", "-sk", "--http2", "--max-time", "3", "--resolve", f"s3.us-east-1.amazonaws.com:{p}:127.0.0.1", f"https://s3.us-east-1.amazonaws.com:{p}/"])
capture("curl-http11-bucket.bin", lambda p: ["curl", "-sk", "--http1.1", "--max-time", "3", "--resolve", f"my.dotted.bucket.s3.amazonaws.com:{p}:127.0.0.1", f"https://my.dotted.bucket.s3.amazonaws.com:{p}/"])
capture("curl-ip-no-sni.bin", lambda p: ["curl", "-sk", "--max-time", "3", f"https://127.0.0.1:{p}/"])
capture("openssl-s_client-sqs-localstack.bin", lambda p: ["openssl", "s_client", "-connect", f"127.0.0.1:{p}", "-servername", "sqs.ap-south-2.localhost.localstack.cloud", "-alpn", "h2,http/1.1"])
capture("openssl-s_client-tls12-example.bin", lambda p: ["openssl", "s_client", "-connect", f"127.0.0.1:{p}", "-servername", "example.com", "-tls1_2"])
# boto3 (urllib3 + Python's ssl) with the name pinned to loopback inside the child, so no DNS query leaves.
BOTO3 = """
import socket, sys, boto3, botocore.config
real = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: real("127.0.0.1", *a, **k)
s3 = boto3.client("s3", region_name="us-west-2", endpoint_url=sys.argv[1], verify=False,
                  aws_access_key_id="test", aws_secret_access_key="test",
                  config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=3))
try:
    s3.list_buckets()
except Exception:
    pass
"""
capture("boto3-s3-us-west-2.bin", lambda p: [sys.executable, "-c", BOTO3, f"https://s3.us-west-2.amazonaws.com:{p}"])
SDK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../target/debug/examples/client_hello_sdk")
capture("rust-sdk-s3-eu-west-1.bin", lambda p: [SDK, "s3.eu-west-1.amazonaws.com", str(p)])
