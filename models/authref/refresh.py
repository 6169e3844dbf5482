#!/usr/bin/env python3
"""Refreshes the vendored IAM service authorization reference (models/authref/service-reference.json).

    python3 models/authref/refresh.py                      # download from AWS's service reference endpoint
    python3 models/authref/refresh.py --from DIR           # read DIR/<prefix>/<prefix>.json (a mirror checkout)
    python3 models/authref/refresh.py --from DIR --source "github.com/owner/mirror@abc1234 (2026-08-22)"

AWS publishes its Service Authorization Reference as JSON, one document per IAM service prefix, at
https://servicereference.us-east-1.amazonaws.com/v1/<prefix>/<prefix>.json (index: .../v1/service-list.json).
Each document lists the prefix's Actions (resource types, condition keys), Resources (ARN formats),
ConditionKeys (value types) and Operations (SDK operation -> the IAM actions it authorizes). This script
keeps only the prefixes Skyport implements, drops prose and annotations, keeps in each operation only the
authorized actions of those prefixes, and writes one compact JSON file that skyport-authref embeds. It
prints what changed (actions, resources, operations and their authorized actions added, removed or
changed) so a refresh can be reviewed before it is committed. Tests and CI never run it.
"""
import argparse
import datetime
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from refresh import changes  # noqa: E402  (models/refresh.py: the same change summary)

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "service-reference.json")
ENDPOINT = "https://servicereference.us-east-1.amazonaws.com/v1"
# IAM service prefix -> the botocore/SDK service names whose operations Skyport serves under it.
PREFIXES = {
    "s3": ["s3"],
    "sqs": ["sqs"],
    "sts": ["sts"],
    "lambda": ["lambda"],
    "logs": ["logs"],
    "iam": ["iam"],
    "ecr": ["ecr"],
    "dynamodb": ["dynamodb", "dynamodbstreams"],
    "sns": ["sns"],
    "events": ["events"],
}


def load(prefix, source_dir):
    if source_dir:
        with open(os.path.join(source_dir, prefix, f"{prefix}.json")) as f:
            return json.load(f)
    with urllib.request.urlopen(f"{ENDPOINT}/{prefix}/{prefix}.json", timeout=60) as r:
        return json.load(r)


def trim(prefix, doc, dropped):
    resources = {
        r["Name"]: {"arn": r["ARNFormats"], "conditions": sorted(r.get("ConditionKeys", []))}
        for r in doc.get("Resources", [])
    }
    actions = {
        a["Name"]: {
            "resources": [x["Name"] for x in a.get("Resources", [])],
            "conditions": sorted(a.get("ActionConditionKeys", [])),
        }
        for a in doc.get("Actions", [])
    }
    conditions = {c["Name"]: c.get("Types", []) for c in doc.get("ConditionKeys", [])}
    operations = {}
    for op in doc.get("Operations", []):
        if not any(sdk.get("Name") in PREFIXES[prefix] for sdk in op.get("SDK", [])):
            continue
        if op["Name"] in operations:
            sys.exit(f"{prefix}: operation {op['Name']} listed twice")
        authorized = []
        for a in op.get("AuthorizedActions", []):
            name = f"{a['Service']}:{a['Name']}"
            if a["Service"] in PREFIXES:
                if name not in authorized:
                    authorized.append(name)
            else:
                dropped.add(name)
        operations[op["Name"]] = authorized
    return {
        "version": doc.get("Version", ""),
        "resources": dict(sorted(resources.items())),
        "actions": dict(sorted(actions.items())),
        "conditionKeys": dict(sorted(conditions.items())),
        "operations": dict(sorted(operations.items())),
    }


def diff(prefix, old, new):
    if old is None:
        return f"{prefix}: new ({len(new['actions'])} actions, {len(new['operations'])} operations)"
    return f"{prefix}: " + changes(old, new, ("actions", "resources", "conditionKeys", "operations"))


def render(out):
    """JSON with one line per action, resource, condition key and operation, so a refresh diffs well."""
    compact = lambda v: json.dumps(v, separators=(",", ":"))
    lines = ["{"]
    for key in ("source", "retrieved", "note", "sdkServices"):
        lines.append(f" {json.dumps(key)}:{compact(out[key])},")
    lines.append(' "services":{')
    prefixes = list(out["services"])
    for i, prefix in enumerate(prefixes):
        service = out["services"][prefix]
        lines.append(f"  {json.dumps(prefix)}:{{")
        lines.append(f'   "version":{compact(service["version"])},')
        sections = ["resources", "actions", "conditionKeys", "operations"]
        for j, section in enumerate(sections):
            entries = list(service[section].items())
            lines.append(f"   {json.dumps(section)}:{{")
            for k, (name, value) in enumerate(entries):
                comma = "," if k + 1 < len(entries) else ""
                lines.append(f"    {json.dumps(name)}:{compact(value)}{comma}")
            lines.append("   }" + ("," if j + 1 < len(sections) else ""))
        lines.append("  }" + ("," if i + 1 < len(prefixes) else ""))
    lines.append(" }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source_dir", help="directory holding <prefix>/<prefix>.json")
    parser.add_argument("--source", help="where the documents came from, recorded in the output")
    args = parser.parse_args()
    old = json.load(open(TARGET)) if os.path.exists(TARGET) else {"services": {}}
    dropped = set()
    services = {p: trim(p, load(p, args.source_dir), dropped) for p in PREFIXES}
    out = {
        "source": args.source or ENDPOINT,
        "retrieved": datetime.date.today().isoformat(),
        "note": "AWS Service Authorization Reference (service reference JSON), trimmed by models/authref/refresh.py",
        "sdkServices": PREFIXES,
        "services": services,
    }
    with open(TARGET, "w") as f:
        f.write(render(out))
    for p in PREFIXES:
        print(diff(p, old["services"].get(p), services[p]))
    if dropped:
        print(f"authorized actions of other prefixes left out: {', '.join(sorted(dropped))}")


if __name__ == "__main__":
    main()
