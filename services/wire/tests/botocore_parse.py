#!/usr/bin/env python3
"""Reads responses Skyport's wire layer wrote for the protocol test cases back with botocore's own
response parsers, and compares what botocore parses with the case's expected result (the same fix-ups
as botocore's tests/unit/test_protocols.py: no ResponseMetadata, blobs as text, special floats as text).

    python3 botocore_parse.py cases.json > results.json

Each case: {id, model, operation, status, headers, body_b64, result | error+errorCode+errorMessage}.
Each result: {id, ok, detail}.
"""
import base64
import copy
import json
import math
import sys

from botocore.awsrequest import HeadersDict
from botocore.model import NoShapeFoundError, OperationModel, ServiceModel
from botocore.parsers import JSONParser, QueryParser, RestJSONParser, RestXMLParser
from botocore.utils import parse_timestamp
from dateutil.tz import tzutc

PARSERS = {"query": QueryParser, "json": JSONParser, "rest-json": RestJSONParser, "rest-xml": RestXMLParser}


def epoch(value):
    return parse_timestamp(value).astimezone(tzutc()).timestamp()


def fixup(parsed):
    if isinstance(parsed, dict):
        return {k: fixup(v) for k, v in parsed.items() if k != "ResponseMetadata"}
    if isinstance(parsed, list):
        return [fixup(v) for v in parsed]
    if isinstance(parsed, bytes):
        return parsed.decode("utf-8")
    if isinstance(parsed, float):
        if math.isnan(parsed):
            return "NaN"
        if math.isinf(parsed):
            return "Infinity" if parsed > 0 else "-Infinity"
    return parsed


def equal(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) < 1e-6
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    return a == b


def run(case):
    description = copy.deepcopy(case["model"])
    name = case["operation"]["name"]
    description["operations"] = {name: case["operation"]}
    model = ServiceModel(description)
    operation = OperationModel(case["operation"], model)
    protocol = model.metadata["protocol"]
    parser = PARSERS[protocol](timestamp_parser=epoch)
    response = {
        "status_code": case["status"],
        "headers": HeadersDict(case["headers"]),
        "body": base64.b64decode(case["body_b64"]),
        "context": {"operation_name": name},
    }
    output_shape = operation.output_shape
    if case.get("error") is not None:
        parsed = parser.parse(response, output_shape)
        try:
            error_shape = model.shape_for_error_code(parsed.get("Error", {}).get("Code"))
        except NoShapeFoundError:
            error_shape = None
        if error_shape is not None:
            parsed.update(parser.parse(response, error_shape))
        parsed = fixup(parsed)
        if "Error" in parsed:
            parsed["Error"] = {k: v for k, v in parsed["Error"].items() if k in ("Code", "Message")}
        expected = {"Error": {"Code": case.get("errorCode", ""), "Message": case.get("errorMessage", "")}}
        expected.update(case["error"])
    else:
        if protocol == "query" and output_shape is not None and output_shape.members:
            output_shape.serialization["resultWrapper"] = f"{name}Result"
        parsed = fixup(parser.parse(response, output_shape))
        expected = case["result"]
    if equal(parsed, expected):
        return {"id": case["id"], "ok": True, "detail": ""}
    return {"id": case["id"], "ok": False,
            "detail": f"parsed {json.dumps(parsed, default=str)[:400]} expected {json.dumps(expected, default=str)[:400]}"
                      f" from {case['status']} {json.dumps(case['headers'])} {base64.b64decode(case['body_b64'])[:300]!r}"}


def main():
    cases = json.load(open(sys.argv[1]))
    results = []
    for case in cases:
        try:
            results.append(run(case))
        except Exception as e:  # a response botocore cannot read is a failure of that case
            results.append({"id": case["id"], "ok": False, "detail": f"botocore raised {type(e).__name__}: {e}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
