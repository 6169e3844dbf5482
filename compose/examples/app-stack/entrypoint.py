"""Container entry point: fetch Skyport's CA over plain HTTP inside the network, trust it through
AWS_CA_BUNDLE, then run the unmodified application."""

import os
import sys
import time
import urllib.request

SKYPORT = os.environ.get("SKYPORT_URL", "http://skyport:4566")
BUNDLE = "/tmp/skyport-ca.pem"

deadline = time.monotonic() + 30
while True:
    try:
        with urllib.request.urlopen(SKYPORT + "/_skyport/certs/ca.pem", timeout=2) as response:
            pem = response.read()
        break
    except OSError as error:
        if time.monotonic() > deadline:
            sys.exit(f"cannot fetch Skyport's CA from {SKYPORT}: {error}")
        time.sleep(0.2)
with open(BUNDLE, "wb") as f:
    f.write(pem)
os.environ["AWS_CA_BUNDLE"] = BUNDLE
app = sys.argv[1] if len(sys.argv) > 1 else "/app/app.py"
os.execv(sys.executable, [sys.executable, app])
