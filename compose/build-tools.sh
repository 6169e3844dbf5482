#!/usr/bin/env bash
# Builds the `-tools` variant of the Skyport image offline: the same static binary as the default image
# (copied out of skyport/skyport:local, which compose/build-local.sh builds first) on a slim Debian root
# with a POSIX shell, Python 3, the AWS CLI (v1, from PyPI), curl and `awslocal`, for people whose init
# hooks (/etc/localstack/init/*.d/*.sh|*.py) need them. Tagged skyport/skyport:local-tools.
#
#   compose/build-tools.sh
#   SKYPORT_TOOLS_TAG=me/skyport:dev-tools compose/build-tools.sh
#
# The Debian root comes from the configured Debian mirror through debootstrap, the AWS CLI from PyPI
# through this machine's pip for the root's Python version (no registry is pulled: the root is a
# tarball that `docker import` turns into the base image). It is built once per recipe
# and cached: as a Docker image (skyport/tools-base:<recipe hash>) and as a tarball under
# $SKYPORT_BUILD_CACHE (CI) or ~/.cache/skyport, so a fresh clone or a pruned engine re-imports it in
# seconds instead of downloading the packages again.
# Needs: docker; debootstrap, root and python3.11 with pip only when the root is not cached yet.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${SKYPORT_TOOLS_TAG:-skyport/skyport:local-tools}
suite=${SKYPORT_DEBIAN_SUITE:-bookworm}
mirror=${SKYPORT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What the root holds. Changing this list (or the suite) changes the recipe hash and rebuilds the root.
packages=python3,curl,ca-certificates
awscli=${SKYPORT_TOOLS_AWSCLI:-awscli==1.46.3}
python=python3.11   # bookworm's Python: the wheels pip picks must match it

# The default image first: the tools image takes its binary from it, so both always carry the same one.
# (SKYPORT_LOCAL_BUILT=1: the caller just built it, as the tests do.)
if [ "${SKYPORT_LOCAL_BUILT:-}" != 1 ]; then
  SKYPORT_LOCAL_TAG=skyport/skyport:local compose/build-local.sh >/dev/null
fi

recipe=$(printf '%s\n' "$suite" "$packages" "$awscli" "$(sha256sum compose/build-tools.sh | cut -c1-64)" \
  | sha256sum | cut -c1-16)
base="skyport/tools-base:$recipe"
cache_dir="${SKYPORT_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skyport}/tools"
tarball="$cache_dir/rootfs-$recipe.tar.gz"

if ! docker image inspect "$base" >/dev/null 2>&1; then
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || {
      echo "build-tools.sh: debootstrap is needed to build the Debian root (apt-get install debootstrap)" >&2
      exit 1
    }
    [ "$(id -u)" = 0 ] || { echo "build-tools.sh: building the Debian root needs root (debootstrap)" >&2; exit 1; }
    mkdir -p "$cache_dir"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    root="$work/root"
    echo "build-tools.sh: building the Debian $suite root ($packages) from $mirror, once" >&2
    debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
      tail -n 30 "$work/debootstrap.log" "$root/debootstrap/debootstrap.log" >&2 2>/dev/null
      exit 1
    }
    # The AWS CLI v1 and its dependencies into the root's site directory, and its `aws` command.
    site="$root/usr/local/lib/python3.11/dist-packages"
    "$python" -m pip install --quiet --disable-pip-version-check --no-compile --only-binary=:all: \
      --python-version 3.11 --platform manylinux2014_x86_64 --implementation cp \
      --target "$site" "$awscli"
    rm -rf "$site/bin"
    printf '#!/usr/bin/python3\nimport sys\nfrom awscli.clidriver import main\nsys.exit(main())\n' \
      >"$root/usr/local/bin/aws"
    chmod 0755 "$root/usr/local/bin/aws"
    chroot "$root" /usr/local/bin/aws --version >&2
    # Slim: no package downloads, indexes, documentation, manuals or translations.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
      "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/var/log/*.log \
      "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
    # Byte-compiled once here, so that the first `aws` call in a container is not slowed by it.
    chroot "$root" python3 -m compileall -q /usr/local/lib/python3.11/dist-packages >/dev/null 2>&1 || true
    tar --numeric-owner -C "$root" -czf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$work"
    trap - EXIT
  fi
  docker import "$tarball" "$base" >/dev/null
fi

old=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
ctx=$(mktemp -d)   # an empty build context: everything comes from the two images
trap 'rm -rf "$ctx"' EXIT
docker build --quiet -f compose/Dockerfile.tools --build-arg "BASE=$base" \
  --build-arg SKYPORT_IMAGE=skyport/skyport:local -t "$tag" "$ctx" >/dev/null
new=$(docker image inspect -f '{{.Id}}' "$tag")
if [ -n "$old" ] && [ "$old" != "$new" ]; then docker rmi "$old" >/dev/null 2>&1 || true; fi
size=$(docker image inspect -f '{{.Size}}' "$tag")
echo "built $tag ($((size / 1024 / 1024)) MiB uncompressed) on $base"
