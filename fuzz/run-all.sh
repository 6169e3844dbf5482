#!/usr/bin/env bash
# Runs every cargo-fuzz target of the repository for SECONDS each (default 30): the targets in fuzz/
# (router, query/form decoding, S3 XML, aws-chunked, SQS requests, S3 Select, PartiQL, SAML, SigV4/SigV2), certs/fuzz (ClientHello sniffer) and
# dns/fuzz (DNS packets). Seeds come from <fuzz dir>/corpus/<target>/ (committed) and are never modified:
# new inputs go to a scratch corpus. A crash stops the run with libFuzzer's report and leaves the input in
# <fuzz dir>/artifacts/<target>/; turn it into a named regression test before fixing it.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo-fuzz uses nightly-only compiler flags; with only a
# stable toolchain installed RUSTC_BOOTSTRAP=1 unlocks them (set here). The three fuzz workspaces share one
# target directory (target/fuzz), so their common dependencies build once.
#
# FUZZ_SANITIZER picks cargo-fuzz's sanitizer: `address` (the default: catches memory errors in
# dependencies' unsafe code, but a cold build takes much longer) or `none` (what CI uses: Skyport's own
# code has no unsafe, and panics, hangs, overflows and out-of-memory are caught either way).
set -euo pipefail
seconds="${1:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/fuzz}"
sanitizer="${FUZZ_SANITIZER:-address}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

for dir in fuzz certs/fuzz dns/fuzz; do
  cd "$root/$dir"
  for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target" "$scratch/$dir/$target"
    echo "== $dir $target (${seconds}s)"
    # grep hides libFuzzer's progress lines; the exit status of cargo fuzz is what counts.
    set +e
    cargo fuzz run -s "$sanitizer" "$target" "$scratch/$dir/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
      | grep -E '^(==|#[0-9]+ *DONE|stat::number_of_executed_units|SUMMARY|ERROR|panicked|Error|error)|artifact'
    status="${PIPESTATUS[0]}"
    set -e
    if [ "$status" -ne 0 ]; then
      echo "fuzz target $dir/$target failed" >&2
      exit 1
    fi
  done
done
echo "all fuzz targets ran ${seconds}s each without a crash"
