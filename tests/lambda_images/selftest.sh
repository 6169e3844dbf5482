#!/usr/bin/env bash
# Proves the offline Lambda test images and the test functions work, without Skyport: builds them
# (build.sh), then for each function runs a container of its runtime image the way Skyport's Docker
# executor does (the zip extracted into /var/task with `docker cp`, the handler as the command,
# AWS_LAMBDA_RUNTIME_API pointing at a Runtime API, here tests/lambda_functions/fake_runtime_api.py on
# the Docker bridge's gateway address) and checks what comes back for three events:
#
#   {"print": "hello from NAME", "echo_size": 5}   the response "xxxxx", the line in the container's log
#   {"fail": "boom"}                               an error, errorType ValueError, errorMessage boom
#   {"exit": 3}                                    no answer; the container exits with 3
#
# plus the images' own contract: without AWS_LAMBDA_RUNTIME_API the entrypoint exits 142, and python3
# imports awslambdaric, boto3 and ssl. These events make no AWS call (there is no Skyport here).
#
# With --with-skyport it also runs the AWS calls end to end against Skyport's image (no Lambda needed):
# skyport/skyport:local (or $SKYPORT_IMAGE; build it with compose/build-local.sh) on a network of its
# own, each function container on that network with Skyport as its DNS server (--dns) and a CA bundle
# (the host's roots + Skyport's CA, from /_skyport/certs/ca.pem) copied in and named by SSL_CERT_FILE,
# AWS_CA_BUNDLE and REQUESTS_CA_BUNDLE, like Skyport's executor will do. A first event
# {"bucket", "key", "body", "queue", "message"} must come back with the caller identity, the ETag and the
# MessageId; the host then reads the object and the message back through Skyport (python3 with boto3).
#
#   tests/lambda_images/selftest.sh [--with-skyport]
#
# Needs what build.sh needs, and python3. Removes the containers (and the network) it creates.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
python_tag=skyport-test/lambda-python:3.11
provided_tag=skyport-test/lambda-provided:al2023
fake_api=$repo/tests/lambda_functions/fake_runtime_api.py
with_skyport=
case "${1:-}" in
  "") ;;
  --with-skyport) with_skyport=1 ;;
  *)
    echo "usage: $0 [--with-skyport]" >&2
    exit 2
    ;;
esac

"$here/build.sh"

tmp=$(mktemp -d)
containers=()
network=
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  if [ -n "$network" ]; then docker network rm "$network" >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
ok() { echo "ok:   $*"; }
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
die() {
  echo "selftest.sh: $*" >&2
  exit 1
}

# --- the images' contract ----------------------------------------------------------------------------
for image in "$python_tag" "$provided_tag"; do
  set +e
  out=$(docker run --rm "$image" some.handler 2>&1)
  code=$?
  set -e
  if [ "$code" = 142 ] && grep -q 'AWS_LAMBDA_RUNTIME_API is not set' <<<"$out"; then
    ok "$image without AWS_LAMBDA_RUNTIME_API exits 142: $out"
  else
    fail "$image without AWS_LAMBDA_RUNTIME_API: exit $code: $out"
  fi
done
if out=$(docker run --rm --entrypoint /var/lang/bin/python3 "$python_tag" \
  -c "import awslambdaric, boto3, ssl; print(ssl.OPENSSL_VERSION, '| boto3', boto3.__version__)" 2>&1); then
  ok "$python_tag: python3 imports awslambdaric, boto3, ssl: $out"
else
  fail "$python_tag: python3 -c 'import awslambdaric, boto3, ssl': $out"
fi

# --- where the functions run ---------------------------------------------------------------------------
run_opts=()
if [ -z "$with_skyport" ]; then
  # Docker's default bridge; the fake Runtime API listens on the host's address there: the IPAM gateway
  # when Docker reports one, else the bridge interface's address, else the subnet's first address
  # (Docker's default gateway).
  gateway=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
  if [ -z "$gateway" ] && command -v ip >/dev/null; then
    bridge=$(docker network inspect bridge -f '{{index .Options "com.docker.network.bridge.name"}}')
    gateway=$(ip -4 -o addr show dev "${bridge:-docker0}" 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')
  fi
  if [ -z "$gateway" ]; then
    subnet=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}')
    gateway=$(python3 -c 'import ipaddress,sys; print(next(ipaddress.ip_network(sys.argv[1]).hosts()))' "$subnet")
  fi
else
  # A network of our own with Skyport on it: the functions' DNS server, and the CA in their bundle.
  skyport_image=${SKYPORT_IMAGE:-skyport/skyport:local}
  docker image inspect "$skyport_image" >/dev/null 2>&1 || die "no image $skyport_image (compose/build-local.sh)"
  python3 -c 'import boto3' 2>/dev/null || die "--with-skyport needs python3 with boto3"
  network=skyport-lambda-selftest-$$
  docker network create "$network" >/dev/null
  gateway=$(docker network inspect "$network" -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
  skyport=$(docker run -d --name "$network-skyport" --network "$network" "$skyport_image")
  containers+=("$skyport")
  skyport_ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$network\").IPAddress}}" "$skyport")
  endpoint=http://$skyport_ip:4566
  for _ in $(seq 100); do
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
      "$endpoint/_localstack/health" 2>/dev/null && break
    sleep 0.1
  done
  {
    cat /etc/ssl/certs/ca-certificates.crt
    python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
      "$endpoint/_skyport/certs/ca.pem"
  } >"$tmp/ca-bundle.pem" || die "could not fetch Skyport's CA from $endpoint/_skyport/certs/ca.pem"
  bundle=/etc/ssl/certs/skyport-ca-bundle.pem
  run_opts=(--network "$network" --dns "$skyport_ip" -e "SSL_CERT_FILE=$bundle" -e "AWS_CA_BUNDLE=$bundle"
    -e "REQUESTS_CA_BUNDLE=$bundle" -e "NODE_EXTRA_CA_CERTS=$bundle")
  # The host's own calls: boto3 with an explicit endpoint, Skyport's address (plain HTTP).
  aws() {
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test python3 - "$endpoint" "$@" <<'PY'
import json, sys, boto3
endpoint, action, bucket, queue, *keys = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
if action == "setup":
    s3.create_bucket(Bucket=bucket)
    sqs.create_queue(QueueName=queue)
else:
    objects = {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode() for k in keys}
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    print(json.dumps({"objects": objects, "messages": sorted(m["Body"] for m in got)}))
PY
  }
  aws setup selftest-bucket selftest-queue
  ok "Skyport ($skyport_image) at $skyport_ip on network $network; bucket selftest-bucket, queue selftest-queue"
fi

# --- the functions against the fake Runtime API -----------------------------------------------------
# Extracts zip $1 into directory $2 with the modes it records (zipfile alone drops them).
extract() {
  python3 - "$1" "$2" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        path = z.extract(info, sys.argv[2])
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(path, mode)
PY
}

# run_function NAME ZIP IMAGE HANDLER
run_function() {
  local name=$1 zip=$2 image=$3 handler=$4 dir=$tmp/$1 addr="" cid code started elapsed verdicts
  local events=()
  mkdir -p "$dir/task"
  extract "$zip" "$dir/task"
  if [ -n "$with_skyport" ]; then
    events+=("{\"bucket\": \"selftest-bucket\", \"key\": \"$name\", \"body\": \"object from $name\", \"queue\": \"selftest-queue\", \"message\": \"message from $name\"}")
  fi
  events+=("{\"print\": \"hello from $name\", \"echo_size\": 5}" '{"fail": "boom"}' '{"exit": 3}')

  python3 "$fake_api" --host "$gateway" --timeout 120 "${events[@]}" >"$dir/api.out" &
  server=$!
  for _ in $(seq 100); do
    addr=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["listening"])' \
      "$dir/api.out" 2>/dev/null || true)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || {
    fail "$name: the fake Runtime API did not start"
    return
  }

  cid=$(docker create --name "skyport-lambda-selftest-$name-$$" "${run_opts[@]}" \
    -e AWS_LAMBDA_RUNTIME_API="$addr" \
    -e AWS_REGION=us-east-1 -e AWS_DEFAULT_REGION=us-east-1 \
    -e AWS_ACCESS_KEY_ID=test -e AWS_SECRET_ACCESS_KEY=test -e AWS_SESSION_TOKEN=test \
    -e AWS_LAMBDA_FUNCTION_NAME="selftest-$name" -e AWS_LAMBDA_FUNCTION_VERSION='$LATEST' \
    -e AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
    -e AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/selftest-$name" -e AWS_LAMBDA_LOG_STREAM_NAME=selftest \
    "$image" "$handler")
  containers+=("$cid")
  docker cp "$dir/task/." "$cid:/var/task"
  if [ -n "$with_skyport" ]; then docker cp "$tmp/ca-bundle.pem" "$cid:$bundle"; fi
  started=$(date +%s%N)
  docker start "$cid" >/dev/null
  code=$(timeout 60 docker wait "$cid" || echo "timeout")
  elapsed=$((($(date +%s%N) - started) / 1000000))
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=
  docker logs "$cid" >"$dir/log" 2>&1 || true

  echo "--- $name ($image, handler $handler): Runtime API records"
  cat "$dir/api.out"
  echo "--- $name: container log"
  cat "$dir/log"
  echo "--- $name: checks (the container ran $elapsed ms in all)"
  verdicts=$(python3 - "$dir/api.out" "$name" "$with_skyport" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
name, with_skyport = sys.argv[2], bool(sys.argv[3])
nexts = [r["next"] for r in records if "next" in r]
answers = {}
for r in records:
    for kind in ("response", "error"):
        if kind in r:
            answers[r[kind]] = (kind, r)
def verdict(good, text):
    print(("ok  " if good else "FAIL") + " " + text)
def answer(i):
    return answers.get(nexts[i], (None, {})) if i < len(nexts) else (None, {})
expected = 4 if with_skyport else 3
verdict(len(nexts) == expected, "%s: the function asked for %d events (%d)" % (name, expected, len(nexts)))
inits = [r for r in records if "init_error" in r]
verdict(not inits, "%s: no init error %s" % (name, json.dumps(inits) if inits else ""))
i = 0
if with_skyport:
    kind, r = answer(0)
    body = r.get("body") if isinstance(r.get("body"), dict) else {}
    identity, put, sent = body.get("identity") or {}, body.get("put") or {}, body.get("sent") or {}
    good = (kind == "response" and identity.get("Account") and identity.get("Arn") and put.get("ETag")
            and sent.get("MessageId") and isinstance(body.get("remaining_ms"), int)
            and body.get("request_id") == nexts[0])
    verdict(good, "%s: event 1 (put, send, identity through Skyport) answered %s: identity %s, put %s, "
            "sent %s, remaining_ms %s%s" % (name, kind, json.dumps(identity), json.dumps(put), json.dumps(sent),
                                           body.get("remaining_ms"), "" if good else " " + json.dumps(r)))
    i = 1
kind, r = answer(i)
verdict(kind == "response" and r.get("body") == "xxxxx",
        "%s: event %d (print, echo_size 5) answered %s %s" % (name, i + 1, kind, json.dumps(r.get("body"))))
kind, r = answer(i + 1)
body = r.get("body") if isinstance(r.get("body"), dict) else {}
verdict(kind == "error" and body.get("errorType") == "ValueError" and body.get("errorMessage") == "boom",
        "%s: event %d (fail) answered %s %s (Lambda-Runtime-Function-Error-Type %s)"
        % (name, i + 2, kind, json.dumps(r.get("body"))[:160], r.get("type")))
verdict(len(nexts) > i + 2 and nexts[i + 2] not in answers, "%s: event %d (exit 3) got no answer" % (name, i + 3))
PY
  )
  while read -r verdict text; do
    if [ "$verdict" = ok ]; then ok "$text"; else fail "$text"; fi
  done <<<"$verdicts"
  if grep -q "hello from $name" "$dir/log"; then
    ok "$name: the printed line is in the container's log"
  else
    fail "$name: 'hello from $name' is not in the container's log"
  fi
  if [ "$code" = 3 ]; then ok "$name: the container exited with 3"; else fail "$name: the container's exit: $code"; fi
}

run_function python_callback "$repo/target/lambda-functions/python_callback.zip" "$python_tag" handler.main
run_function rust_callback "$repo/target/lambda-functions/rust_callback.zip" "$provided_tag" bootstrap

if [ -n "$with_skyport" ]; then
  stored=$(aws read selftest-bucket selftest-queue python_callback rust_callback 2>&1 || true)
  if python3 - "$stored" <<'PY'; then
import json, sys
d = json.loads(sys.argv[1])
names = ("python_callback", "rust_callback")
assert d["objects"] == {n: "object from " + n for n in names}, d
assert d["messages"] == sorted("message from " + n for n in names), d
PY
    ok "the objects and messages the functions sent read back through Skyport: $stored"
  else
    fail "the objects and messages the functions sent: $stored"
  fi
fi

if [ "$failures" -gt 0 ]; then
  echo "selftest.sh: $failures check(s) failed"
  exit 1
fi
echo "selftest.sh: all checks passed"
