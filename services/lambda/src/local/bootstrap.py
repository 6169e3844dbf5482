"""Skyport's runtime interface client for Python functions run by the local executor.

Speaks the Lambda Runtime API (2018-06-01) at $AWS_LAMBDA_RUNTIME_API like AWS's awslambdaric does:
imports the handler module from $LAMBDA_TASK_ROOT once (an import failure is reported to init/error),
then loops on invocation/next, calls the handler with the event and a context object, and posts the
JSON result to .../response or the error document to .../error.
"""
import importlib
import json
import os
import sys
import time
import traceback
import urllib.request

API = "http://%s/2018-06-01/runtime" % os.environ["AWS_LAMBDA_RUNTIME_API"]


def post(path, body, headers=None):
    request = urllib.request.Request(API + path, data=body, method="POST", headers=headers or {})
    with urllib.request.urlopen(request) as response:
        response.read()


def error_document(exc):
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


class Context:
    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        cc = headers.get("Lambda-Runtime-Client-Context")
        self.client_context = json.loads(cc) if cc else None
        self.identity = None

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def load_handler():
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT", "."))
    module = importlib.import_module(module_name.replace("/", "."))
    return getattr(module, function_name)


def main():
    try:
        handler = load_handler()
    except Exception as exc:  # the function's code could not be loaded: report it as AWS does
        doc = error_document(exc)
        doc["errorType"] = "Runtime.ImportModuleError"
        doc["errorMessage"] = "Unable to import module '%s': %s" % (os.environ.get("_HANDLER"), exc)
        print("[ERROR] %s: %s" % (doc["errorType"], doc["errorMessage"]), flush=True)
        post("/init/error", json.dumps(doc).encode(), {"Lambda-Runtime-Function-Error-Type": doc["errorType"]})
        sys.exit(1)
    while True:
        with urllib.request.urlopen(API + "/invocation/next") as response:
            headers = response.headers
            event = json.loads(response.read() or b"null")
        context = Context(headers)
        request_id = context.aws_request_id
        try:
            result = handler(event, context)
            body = json.dumps(result).encode()
        except Exception as exc:  # the function failed: its error goes back to the caller
            doc = error_document(exc)
            doc["requestId"] = request_id
            print("[ERROR] %s: %s" % (doc["errorType"], doc["errorMessage"]), flush=True)
            post("/invocation/%s/error" % request_id, json.dumps(doc).encode(),
                 {"Lambda-Runtime-Function-Error-Type": "Unhandled"})
            continue
        post("/invocation/%s/response" % request_id, body)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
