#!/usr/bin/env bash
# Builds the example's client image offline from this machine's python3 and boto3 (no registry): the
# interpreter, its shared libraries and standard library, boto3 and its dependencies (botocore's data
# pruned to S3, SQS and STS), app.py and entrypoint.py, on an empty base. Tagged
# skyport-example/app-client:<hash of the inputs>, printed on stdout; an existing tag is reused.
#
# With a registry, use the Dockerfile next to this script instead (python:3-slim + pip install boto3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}

read -r prefix version stdlib site < <("$py" - <<'PY'
import os, sys, sysconfig, boto3
print(sys.prefix, "%d.%d.%d" % sys.version_info[:3], sysconfig.get_paths()["stdlib"],
      os.path.dirname(os.path.dirname(boto3.__file__)))
PY
)
boto=$("$py" -c 'import boto3, botocore; print(boto3.__version__, botocore.__version__)')
key=$( { echo "$prefix $version $boto"; cat "$here/app.py" "$here/entrypoint.py" "$0"; } | sha256sum | cut -c1-16)
tag="skyport-example/app-client:$key"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/tmp" "$root/app" "$root/etc"
chmod 1777 "$root/tmp"
exe=$("$py" -c 'import os, sys; print(os.path.realpath(sys.executable))')

# The standard library without tests and GUI, and only the packages the app imports.
mkdir -p "$root$stdlib"
tar -C "$stdlib" --exclude=./site-packages --exclude=./test --exclude=./idlelib --exclude=./tkinter \
  --exclude=./ensurepip --exclude=./lib2to3 --exclude='__pycache__' -cf - . | tar -C "$root$stdlib" -xf -
mkdir -p "$root$site"
for pkg in boto3 botocore s3transfer jmespath dateutil urllib3 six.py; do
  cp -a "$site/$pkg" "$root$site/"
done
find "$root$site/botocore/data" -mindepth 1 -maxdepth 1 -type d \
  ! -name s3 ! -name sqs ! -name sts -exec rm -rf {} +
find "$root$site" -name '__pycache__' -prune -exec rm -rf {} +

# The interpreter and every shared library it and its extension modules load, at their own paths.
mkdir -p "$root$(dirname "$exe")" "$root/usr/local/bin"
cp -L "$exe" "$root$exe"
ln -sf "$exe" "$root/usr/local/bin/python3"
{
  ldd "$exe"
  find "$root$stdlib/lib-dynload" -name '*.so' -exec ldd {} \; 2>/dev/null
} | awk '/=> \//{print $3} /^[ \t]*\/[^ ]+ \(/{print $1}' | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\n' >"$root/etc/passwd"
cp "$here/app.py" "$here/entrypoint.py" "$root/app/"

cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
ENV PYTHONHOME=$prefix PYTHONPATH=$site PYTHONDONTWRITEBYTECODE=1 PATH=/usr/local/bin
ENTRYPOINT ["/usr/local/bin/python3", "/app/entrypoint.py"]
DOCKERFILE
docker build --quiet -t "$tag" "$ctx" >/dev/null
# Drop client images built from older inputs (unless a container still uses one).
docker images --format '{{.Repository}}:{{.Tag}}' skyport-example/app-client | { grep -vxF "$tag" || true; } |
  while read -r stale; do docker rmi "$stale" >/dev/null 2>&1 || true; done
echo "$tag"
