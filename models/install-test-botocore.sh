#!/usr/bin/env bash
# Installs the botocore release the vendored models and protocol test cases come from into
# models/.botocore/<version> (not the system's botocore, which boto3 pins), for the wire layer's
# protocol conformance test to parse responses with the same parsers the cases were written for.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(cat "$here/BOTOCORE_VERSION")
target="$here/.botocore/$version"
[ -d "$target/botocore" ] && exit 0
python3 -m pip install -q --disable-pip-version-check --no-deps --target "$target" "botocore==$version"
