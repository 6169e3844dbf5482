#!/usr/bin/env bash
# Builds, offline, what Skyport's Lambda tests run: two runtime images with the contract of AWS's public
# Lambda base images (no image is pulled from any registry) and the two test functions' zips.
#
#   skyport-test/lambda-python:3.11       runtime python3.11: this machine's CPython 3.11 in /var/lang
#                                         with the shared libraries it needs, busybox, the CA roots,
#                                         awslambdaric + boto3 (pinned below) in /var/runtime
#   skyport-test/lambda-provided:al2023   runtime provided.al2023: busybox, the CA roots, a bootstrap
#                                         that runs the function's own /var/task/bootstrap
#   target/lambda-functions/python_callback.zip   tests/lambda_functions/python_callback (handler.main)
#   target/lambda-functions/rust_callback.zip     tests/lambda_functions/rust_callback: one static
#                                                 binary, `bootstrap` (for provided.al2023)
#
#   tests/lambda_images/build.sh          # build what is missing or out of date
#   SKYPORT_LAMBDA_REBUILD=1 tests/lambda_images/build.sh   # rebuild both images regardless
#
# Idempotent and quick on re-runs: an image is skipped when its label skyport.test.hash matches the hash
# of its inputs (this script, the files beside it, the host files copied in); cargo rebuilds the Rust
# function only when it changed. Runs under an exclusive flock on target/lambda-images.lock, so parallel
# test binaries (tests/common/lambda_images.rs) build once and the others wait.
#
# Needs: docker, cargo (the x86_64-unknown-linux-gnu toolchain), CPython 3.11 at
# $SKYPORT_LAMBDA_PYTHON_PREFIX (default /root/.pyenv/versions/3.11.7) with pip, PyPI and crates.io
# (first build only), a static /bin/busybox and readelf (installed with apt-get when missing, as root).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

python_prefix=${SKYPORT_LAMBDA_PYTHON_PREFIX:-/root/.pyenv/versions/3.11.7}
python_tag=skyport-test/lambda-python:3.11
provided_tag=skyport-test/lambda-provided:al2023
# /var/runtime of the python image: the runtime interface client and the SDK, the whole dependency
# closure pinned and installed with --no-deps (boto3 matches the botocore of Skyport's vendored models).
runtime_packages=(
  awslambdaric==4.2.2 simplejson==4.3.0 snapshot-restore-py==1.0.0
  boto3==1.44.18 botocore==1.44.18 s3transfer==0.19.3 jmespath==1.1.0 python-dateutil==2.9.0.post0
  six==1.17.0 urllib3==2.8.0
)
rust_target=x86_64-unknown-linux-gnu
out=$repo/target/lambda-functions
work=$repo/target/lambda-images

say() { echo "build.sh: $*"; }
die() {
  echo "build.sh: error: $*" >&2
  exit 1
}
trap 'echo "build.sh: error: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

mkdir -p "$out" "$work"
exec 9>"$repo/target/lambda-images.lock"
if ! flock -n 9; then
  say "waiting for another build.sh (target/lambda-images.lock)"
  flock 9
fi

# --- prerequisites -------------------------------------------------------------------------------------
static_elf() { [ -f "$1" ] && readelf -h "$1" >/dev/null 2>&1 && ! readelf -l "$1" 2>/dev/null | grep -q INTERP; }
missing=()
command -v readelf >/dev/null || missing+=(binutils)
if ! command -v readelf >/dev/null || ! static_elf /bin/busybox; then missing+=(busybox-static); fi
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}: run as root or apt-get install ${missing[*]}"
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  static_elf /bin/busybox || die "/bin/busybox is not a static executable after installing busybox-static"
fi
for tool in docker cargo sha256sum flock ldd tar strip; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
docker info >/dev/null 2>&1 || die "the Docker Engine is not reachable (docker info failed)"
python=$python_prefix/bin/python3.11
[ -x "$python" ] || die "no CPython 3.11 at $python_prefix (set SKYPORT_LAMBDA_PYTHON_PREFIX)"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca_bundle" ] || die "no CA roots at $ca_bundle (apt-get install ca-certificates)"

# --- helpers -------------------------------------------------------------------------------------------
# sha256 of files' names and contents, and of stdin's text. The repository's files count by their path
# in it, so every checkout (a git worktree) of the same content agrees on the images.
hash_inputs() {
  {
    cat
    for f in "$@"; do printf '%s %s\n' "${f#"$repo"/}" "$(sha256sum <"$f" | cut -c1-64)"; done
  } | sha256sum | cut -c1-32
}

# The shared libraries ELF files need (ldd: the whole closure), one "soname path" a line; fails on a
# library ldd cannot find. Libraries under $python_prefix (libpython) are the copy's own.
shared_libs() {
  local f lines
  for f in "$@"; do
    lines=$(ldd "$f" 2>&1) || die "ldd $f failed: $lines"
    if grep -q 'not found' <<<"$lines"; then die "$f needs libraries this machine lacks: $lines"; fi
    awk -v own="$python_prefix/" '$2 == "=>" && $3 ~ /^\// && index($3, own) != 1 { print $1, $3 }' <<<"$lines"
  done | sort -u
}

# The Lambda base common to both images: busybox as /bin/sh (and its other applets), the CA roots at
# the Debian and Amazon Linux paths, /etc basics, the entrypoint, empty /var/task and /opt, /tmp 1777.
base_rootfs() {
  local root=$1 applet
  mkdir -p "$root"/{bin,etc/ssl/certs,etc/pki/tls/certs,usr/bin,usr/local/bin,usr/lib64,var/task,var/runtime,opt,tmp}
  ln -s usr/lib64 "$root/lib64"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  cp "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
  cp "$ca_bundle" "$root/etc/pki/tls/certs/ca-bundle.crt"
  ln -s ca-certificates.crt "$root/etc/ssl/certs/ca-bundle.crt"
  # root, and the user AWS runs functions as (sbx_user1051).
  printf 'root:x:0:0:root:/root:/bin/sh\nsbx_user1051:x:993:990::/home/sbx_user1051:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' \
    >"$root/etc/passwd"
  printf 'root:x:0:\nsbx_user1051:x:990:\nnobody:x:65534:\n' >"$root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
  if [ -f /usr/share/zoneinfo/Etc/UTC ]; then cp /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"; fi
  cp "$here/lambda-entrypoint.sh" "$root/lambda-entrypoint.sh"
  chmod 0755 "$root/lambda-entrypoint.sh" "$root/bin/busybox"
  chmod 1777 "$root/tmp"
}

# Builds image $1 from the root filesystem $2 with the hash label $3 and the Dockerfile lines $4 added
# (the runtime's own environment); drops the image the tag pointed to before (unless a container still
# uses it).
build_image() {
  local tag=$1 root=$2 hash=$3 extra=${4:-} ctx old new output
  ctx=$work/ctx
  rm -rf "$ctx"
  mkdir -p "$ctx"
  { cat "$here/Dockerfile"; [ -z "$extra" ] || printf '%s\n' "$extra"; } >"$ctx/Dockerfile"
  tar --create --file="$ctx/rootfs.tar" --directory="$root" --numeric-owner --owner=0 --group=0 .
  old=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  output=$(docker build --quiet --label "skyport.test.hash=$hash" -t "$tag" "$ctx" 2>&1) ||
    die "docker build of $tag failed: $output"
  new=$(docker image inspect -f '{{.Id}}' "$tag")
  if [ -n "$old" ] && [ "$old" != "$new" ]; then docker rmi "$old" >/dev/null 2>&1 || true; fi
  rm -rf "$ctx" "$root"
}

# The image's label skyport.test.hash equals $2 (and SKYPORT_LAMBDA_REBUILD is not set).
up_to_date() {
  [ -z "${SKYPORT_LAMBDA_REBUILD:-}" ] &&
    [ "$(docker image inspect -f '{{index .Config.Labels "skyport.test.hash"}}' "$1" 2>/dev/null || true)" = "$2" ]
}

image_size() { echo "$(($(docker image inspect -f '{{.Size}}' "$1") / 1024 / 1024)) MiB"; }

common_inputs=("$here/build.sh" "$here/Dockerfile" "$here/lambda-entrypoint.sh" /bin/busybox "$ca_bundle")

# --- skyport-test/lambda-python:3.11 -------------------------------------------------------------------
# What of the Python installation goes to /var/lang: the interpreter, libpython, the standard library
# without its tests, IDLE, Tk, ensurepip, the static library and the optimised (-O) bytecode;
# site-packages empty (but for the layers' .pth).
py_excludes=(
  '--exclude=python3.11/site-packages/*' --exclude=python3.11/test --exclude=python3.11/idlelib
  --exclude=python3.11/tkinter --exclude=python3.11/turtledemo --exclude=python3.11/ensurepip
  '--exclude=python3.11/config-3.11-*' --exclude=python3.11/lib2to3/tests --exclude=python3.11/ctypes/test
  --exclude=python3.11/distutils/tests --exclude=python3.11/unittest/test --exclude=python3.11/sqlite3/test
  '--exclude=python3.11/lib-dynload/_tkinter.*' '--exclude=python3.11/lib-dynload/_test*'
  '--exclude=python3.11/lib-dynload/_ctypes_test.*' '--exclude=python3.11/lib-dynload/xxlimited*'
  '--exclude=python3.11/lib-dynload/_xxtestfuzz.*' '--exclude=*.opt-1.pyc' '--exclude=*.opt-2.pyc'
)
py_elves=("$python" "$python_prefix/lib/libpython3.11.so.1.0")
for so in "$python_prefix"/lib/python3.11/lib-dynload/*.so; do
  case ${so##*/} in _tkinter.* | _test* | _ctypes_test.* | xxlimited* | _xxtestfuzz.*) continue ;; esac
  py_elves+=("$so")
done
# ldd takes a second and a half for these: its answer is cached while the files and the libraries it
# named stay where they are (their contents are hashed below, and a rebuild asks ldd again).
py_libs_cache=$work/python-libs.$(stat -c '%n %s %Y' "${py_elves[@]}" | sha256sum | cut -c1-16)
py_libs=
if [ -s "$py_libs_cache" ]; then
  py_libs=$(cat "$py_libs_cache")
  while read -r _ path; do [ -f "$path" ] || py_libs=; done <<<"$py_libs"
fi
if [ -z "$py_libs" ]; then
  rm -f "$work"/python-libs.*
  py_libs=$(shared_libs "${py_elves[@]}")
  echo "$py_libs" >"$py_libs_cache"
fi
py_hash=$({
  "$python" -VV
  echo "${runtime_packages[*]}"
  echo "$py_libs"
} | hash_inputs "${common_inputs[@]}" "$here/bootstrap-python.sh" "$python" \
  "$python_prefix/lib/libpython3.11.so.1.0" $(awk '{print $2}' <<<"$py_libs"))

if up_to_date "$python_tag" "$py_hash"; then
  say "$python_tag is up to date ($(image_size "$python_tag"))"
else
  started=$SECONDS
  say "building $python_tag"
  root=$work/python-rootfs
  rm -rf "$root"
  base_rootfs "$root"
  mkdir -p "$root/var/lang/bin" "$root/var/lang/lib"
  cp "$python" "$root/var/lang/bin/python3.11"
  ln -s python3.11 "$root/var/lang/bin/python3"
  ln -s python3.11 "$root/var/lang/bin/python"
  cp "$python_prefix/lib/libpython3.11.so.1.0" "$python_prefix/lib/libpython3.so" "$root/var/lang/lib/"
  ln -s libpython3.11.so.1.0 "$root/var/lang/lib/libpython3.11.so"
  tar --create --directory="$python_prefix/lib" "${py_excludes[@]}" python3.11 |
    tar --extract --directory="$root/var/lang/lib"
  # Layers: /opt/python/lib/python3.11/site-packages and /opt/python come before /var/runtime, as on AWS.
  echo "import sys; i = sys.path.index('/var/runtime') if '/var/runtime' in sys.path else len(sys.path); sys.path[i:i] = [p for p in ('/opt/python/lib/python3.11/site-packages', '/opt/python') if p not in sys.path]" \
    >"$root/var/lang/lib/python3.11/site-packages/lambda-layers.pth"

  # /var/runtime: pip of the same interpreter, so the wheels and the bytecode fit it.
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$python" -m pip install --quiet --no-deps --only-binary=:all: \
    --no-warn-conflicts --root-user-action=ignore --target "$root/var/runtime" "${runtime_packages[@]}" ||
    die "pip install into /var/runtime failed"
  rm -rf "$root/var/runtime/bin"
  cp "$here/bootstrap-python.sh" "$root/var/runtime/bootstrap"
  chmod 0755 "$root/var/runtime/bootstrap"

  # Every shared library of the interpreter, its extension modules and the runtime's (libstdc++ for
  # awslambdaric), from this machine, into /usr/lib64; the dynamic loader as /lib64/ld-linux-x86-64.so.2.
  mapfile -t runtime_elves < <(find "$root/var/runtime" -name '*.so' -type f)
  { shared_libs "${py_elves[@]}" "${runtime_elves[@]}"; } | sort -u | while read -r soname path; do
    [ -n "$soname" ] || continue
    cp -L "$path" "$root/usr/lib64/$soname"
  done
  cp -L /lib64/ld-linux-x86-64.so.2 "$root/usr/lib64/ld-linux-x86-64.so.2"
  # Debug symbols are most of these files' size.
  find "$root/var/lang" "$root/usr/lib64" -type f \( -name '*.so' -o -name '*.so.*' -o -name python3.11 \) \
    -exec strip --strip-debug {} +
  # The loader's cache, so the libraries are found without LD_LIBRARY_PATH too.
  printf '/var/lang/lib\n/usr/lib64\n' >"$root/etc/ld.so.conf"
  if [ "$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig -X -r "$root"; fi
  # LANG=en_US.UTF-8 names a locale glibc must find: the C.UTF-8 one (glibc's, 400 KiB) under both names.
  if [ -d /usr/lib/locale/C.utf8 ]; then
    mkdir -p "$root/usr/lib/locale"
    cp -r /usr/lib/locale/C.utf8 "$root/usr/lib/locale/C.utf8"
    ln -s C.utf8 "$root/usr/lib/locale/en_US.utf8"
  fi
  # OpenSSL's default paths on this machine (OPENSSLDIR /usr/lib/ssl).
  mkdir -p "$root/usr/lib/ssl"
  ln -s /etc/ssl/certs/ca-certificates.crt "$root/usr/lib/ssl/cert.pem"
  ln -s /etc/ssl/certs "$root/usr/lib/ssl/certs"

  # As on AWS: the runtime interface client and boto3 are importable by any python3 in the image.
  build_image "$python_tag" "$root" "$py_hash" 'ENV PYTHONPATH=/var/runtime'
  say "built $python_tag ($(image_size "$python_tag"), $((SECONDS - started)) s)"
fi

# --- skyport-test/lambda-provided:al2023 ---------------------------------------------------------------
provided_hash=$(echo provided | hash_inputs "${common_inputs[@]}" "$here/bootstrap-provided.sh")
if up_to_date "$provided_tag" "$provided_hash"; then
  say "$provided_tag is up to date ($(image_size "$provided_tag"))"
else
  started=$SECONDS
  say "building $provided_tag"
  root=$work/provided-rootfs
  rm -rf "$root"
  base_rootfs "$root"
  cp "$here/bootstrap-provided.sh" "$root/var/runtime/bootstrap"
  chmod 0755 "$root/var/runtime/bootstrap"
  build_image "$provided_tag" "$root" "$provided_hash"
  say "built $provided_tag ($(image_size "$provided_tag"), $((SECONDS - started)) s)"
fi

# --- the functions' zips -------------------------------------------------------------------------------
# Written with Python's zipfile (zip may be missing): fixed timestamps, Unix modes, replaced only when
# the content changed. Arguments: the zip, then name=path pairs.
make_zip() {
  "$python" - "$@" <<'EOF'
import io, os, sys, zipfile
dest, entries = sys.argv[1], sys.argv[2:]
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    for entry in entries:
        name, path = entry.split("=", 1)
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.create_system = 3  # Unix: the mode below is honoured on extraction
        info.external_attr = (0o100755 if os.access(path, os.X_OK) else 0o100644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(path, "rb") as f:
            z.writestr(info, f.read())
data = buf.getvalue()
try:
    with open(dest, "rb") as f:
        if f.read() == data:
            sys.exit(0)
except FileNotFoundError:
    pass
with open(dest + ".tmp", "wb") as f:
    f.write(data)
os.replace(dest + ".tmp", dest)
EOF
}

make_zip "$out/python_callback.zip" "handler.py=$repo/tests/lambda_functions/python_callback/handler.py"

# The Rust function: static like compose/build-local.sh builds Skyport (the explicit --target keeps
# build scripts and proc-macros dynamic), in its own target directory.
started=$SECONDS
say "rust_callback: cargo build (a first build compiles the AWS SDK: minutes)"
# SKYPORT_BUILD_CACHE (set by CI) keeps its target directory across fresh clones.
rust_dir=$out/cargo
[ -n "${SKYPORT_BUILD_CACHE:-}" ] && rust_dir=$SKYPORT_BUILD_CACHE/rust_callback
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --quiet --target "$rust_target" \
  --manifest-path "$repo/tests/lambda_functions/rust_callback/Cargo.toml" --target-dir "$rust_dir" ||
  die "cargo build of tests/lambda_functions/rust_callback failed"
bin=$rust_dir/$rust_target/release/bootstrap
if readelf -l "$bin" | grep -q INTERP; then die "$bin is dynamically linked (has an ELF interpreter)"; fi
say "rust_callback built ($((SECONDS - started)) s)"
make_zip "$out/rust_callback.zip" "bootstrap=$bin"

say "images: $python_tag ($(image_size "$python_tag")), $provided_tag ($(image_size "$provided_tag"))"
echo "python_callback.zip: $out/python_callback.zip"
echo "rust_callback.zip: $out/rust_callback.zip"
echo "LAMBDA_RUNTIME_IMAGE_MAPPING: {\"python3.11\": \"$python_tag\", \"provided.al2023\": \"$provided_tag\"}"
