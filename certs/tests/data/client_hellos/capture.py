# Re-captures the ClientHellos in this directory from real clients (curl, openssl s_client).
# It listens on 127.0.0.1 only, records the first TLS record each client sends, and closes.
# Run from this directory: python3 capture.py
import socket, subprocess, sys, threading, time
def capture(out, cmd_for_port):
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
