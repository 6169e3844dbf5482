#!/usr/bin/env python3
"""A tiny Lambda Runtime API (2018-06-01) for checking the test images without Skyport's Lambda.

    fake_runtime_api.py --host 172.17.0.1 [--port 0] [--deadline-ms 30000] EVENT_JSON...

Serves the events in order, one per GET /2018-06-01/runtime/invocation/next (with the headers
Lambda-Runtime-Aws-Request-Id, Lambda-Runtime-Deadline-Ms, Lambda-Runtime-Invoked-Function-Arn,
Lambda-Runtime-Trace-Id); once they are all out, `next` blocks like the real one between invocations.
Prints, one JSON object a line on stdout (flushed):

    {"listening": "HOST:PORT"}                                       first, once bound
    {"next": REQUEST_ID}                                             an event went out
    {"response": REQUEST_ID, "body": ...}                            POST .../REQUEST_ID/response
    {"error": REQUEST_ID, "type": LAMBDA_RUNTIME_FUNCTION_ERROR_TYPE, "body": ...}
    {"init_error": null, "type": ..., "body": ...}                   POST /runtime/init/error

(`body` is the parsed JSON, or the text when it is not JSON). Runs until killed or --timeout seconds.
Python's standard library only.
"""

import argparse
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--deadline-ms", type=int, default=30000, help="each invocation's time limit")
    parser.add_argument("--timeout", type=float, default=300, help="exit after this many seconds")
    parser.add_argument(
        "--function-arn", default="arn:aws:lambda:us-east-1:000000000000:function:selftest"
    )
    parser.add_argument("events", nargs="*", help="the events, as JSON texts")
    args = parser.parse_args()

    events = [json.loads(e) for e in args.events]
    lock = threading.Lock()
    pending = list(events)
    issued = set()
    output_lock = threading.Lock()

    def emit(record):
        with output_lock:
            sys.stdout.write(json.dumps(record) + "\n")
            sys.stdout.flush()

    def parse(body):
        text = body.decode("utf-8", "replace")
        try:
            return json.loads(text)
        except ValueError:
            return text

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # quiet: the records on stdout are the output
            pass

        def reply(self, status, body=b"", headers=()):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path != PREFIX + "/invocation/next":
                return self.reply(404, b'{"errorType":"NotFound"}')
            while True:
                with lock:
                    event = pending.pop(0) if pending else None
                if event is not None:
                    break
                time.sleep(0.2)  # no more events: block, like the real API between invocations
            request_id = str(uuid.uuid4())
            with lock:
                issued.add(request_id)
            deadline = int(time.time() * 1000) + args.deadline_ms
            trace = "Root=1-%08x-%s;Parent=%s;Sampled=0" % (
                int(time.time()),
                uuid.uuid4().hex[:24],
                uuid.uuid4().hex[:16],
            )
            emit({"next": request_id})
            self.reply(
                200,
                json.dumps(event).encode(),
                [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", request_id),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    ("Lambda-Runtime-Invoked-Function-Arn", args.function_arn),
                    ("Lambda-Runtime-Trace-Id", trace),
                ],
            )

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
            if self.path == PREFIX + "/init/error":
                emit({"init_error": None, "type": error_type, "body": parse(body)})
                return self.reply(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
            parts = self.path[len(PREFIX) :].strip("/").split("/")
            if not self.path.startswith(PREFIX) or len(parts) != 3 or parts[0] != "invocation":
                return self.reply(404, b'{"errorType":"NotFound"}')
            request_id, kind = parts[1], parts[2]
            with lock:
                known = request_id in issued
                issued.discard(request_id)
            if kind not in ("response", "error"):
                return self.reply(404, b'{"errorType":"NotFound"}')
            if not known:
                return self.reply(400, b'{"errorType":"InvalidRequestID"}')
            record = {kind: request_id}
            if kind == "error":
                record["type"] = error_type
            record["body"] = parse(body)
            emit(record)
            self.reply(202, b'{"status":"OK"}', [("Content-Type", "application/json")])

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    emit({"listening": "%s:%d" % (host, port)})
    timer = threading.Timer(args.timeout, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
