#!/usr/bin/env python3
"""Refreshes the vendored AWS service models and protocol test cases from one botocore release.

    python3 models/refresh.py            # the release pinned in models/BOTOCORE_VERSION
    python3 models/refresh.py 1.45.0     # move to another release (then review `git diff models/`)

Downloads botocore's source distribution from PyPI (the only network access; CI never runs this), copies
each service's newest `service-2.json` with its documentation strings removed to `models/<service>.json`,
the protocol test cases (`tests/unit/protocols/{input,output}/*.json`) to `models/protocol-tests/`, and
botocore's LICENSE.txt and NOTICE. Prints a summary of what changed per service (operations and shapes
added or removed) so a refresh can be reviewed before it is committed.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICES = ["sts", "s3", "sqs", "lambda", "logs", "iam", "ecr", "dynamodb", "dynamodbstreams", "sns",
            "events"]
# Keys that only carry prose or examples: nothing on the wire depends on them.
DROP = {"documentation", "documentationUrl", "deprecatedMessage", "examples"}


def trim(node):
    if isinstance(node, dict):
        return {k: trim(v) for k, v in node.items() if k not in DROP}
    if isinstance(node, list):
        return [trim(v) for v in node]
    return node


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=1, sort_keys=False)
        f.write("\n")


def summary(name, old, new):
    if old is None:
        return f"{name}: new ({len(new['operations'])} operations, {len(new['shapes'])} shapes)"
    return f"{name}: " + changes(old, new, ("operations", "shapes"))


def changes(old, new, keys):
    """What changed between two versions of a vendored file, per top-level table in `keys`: the
    entries added (+), removed (-) and changed (~); `unchanged` when nothing did. Also used by
    models/authref/refresh.py."""
    parts = []
    for key in keys:
        o, n = old.get(key, {}), new[key]
        added = sorted(set(n) - set(o))
        removed = sorted(set(o) - set(n))
        changed = sorted(k for k in set(n) & set(o) if n[k] != o[k])
        if added:
            parts.append(f"+{key}: {', '.join(added)}")
        if removed:
            parts.append(f"-{key}: {', '.join(removed)}")
        if changed:
            parts.append(f"~{key}: {', '.join(changed)}")
    return "; ".join(parts) if parts else "unchanged"


def main():
    pin_file = os.path.join(HERE, "BOTOCORE_VERSION")
    version = sys.argv[1] if len(sys.argv) > 1 else open(pin_file).read().strip()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        "-d", tmp, f"botocore=={version}"], check=True)
        archive = glob.glob(os.path.join(tmp, "botocore-*.tar.gz"))[0]
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        root = os.path.join(tmp, f"botocore-{version}")
        for name in SERVICES:
            versions = sorted(glob.glob(os.path.join(root, "botocore", "data", name, "*", "service-2.json")))
            model = trim(json.load(open(versions[-1])))
            target = os.path.join(HERE, f"{name}.json")
            old = json.load(open(target)) if os.path.exists(target) else None
            write_json(target, model)
            print(summary(name, old, model))
        tests = os.path.join(HERE, "protocol-tests")
        for kind in ("input", "output"):
            os.makedirs(os.path.join(tests, kind), exist_ok=True)
            for path in sorted(glob.glob(os.path.join(root, "tests", "unit", "protocols", kind, "*.json"))):
                shutil.copy(path, os.path.join(tests, kind, os.path.basename(path)))
        shutil.copy(os.path.join(root, "LICENSE.txt"), os.path.join(HERE, "LICENSE.txt"))
        shutil.copy(os.path.join(root, "NOTICE"), os.path.join(HERE, "NOTICE"))
    with open(pin_file, "w") as f:
        f.write(version + "\n")
    subprocess.run(["git", "-C", HERE, "diff", "--stat", "--", "."], check=False)


if __name__ == "__main__":
    main()
