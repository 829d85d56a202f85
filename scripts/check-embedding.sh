#!/usr/bin/env bash
# examples/embedding, a package that uses the MultiprocCollector library by path, must build and
# print exactly what `multiproc-exporter dump` prints for a directory the real Python client
# wrote, in several formats; its errors come by case.
#
# usage: scripts/check-embedding.sh BINARY        (EMBEDDING_CONFIG=release|debug, default release:
# what the README shows; a cold release build takes ~30 s here, debug ~22 s)
set -euo pipefail

binary=$(realpath "$1")
config=${EMBEDDING_CONFIG:-release}
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

python3 "$root/scripts/demo_dir.py" "$scratch/dir" >/dev/null

cd "$root/examples/embedding"
# Its own build directory (examples/embedding/.build, git-ignored): the exporter's sources are
# compiled again there, as for any package that depends on this one.
started=$(date +%s)
swift build -c "$config" 2>&1 | tail -n 1
example="$(swift build -c "$config" --show-bin-path)/embedding"
echo "examples/embedding: built ($config) in $(( $(date +%s) - started )) s"

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

for accept in "" "application/openmetrics-text; version=1.0.0; escaping=allow-utf-8" \
              "text/plain; version=1.0.0; escaping=underscores" "application/openmetrics-text"; do
    args=("$scratch/dir") dump_args=(dump --multiproc-dir "$scratch/dir")
    if [ -n "$accept" ]; then args+=(--accept "$accept"); dump_args+=(--accept "$accept"); fi
    "$binary" "${dump_args[@]}" > "$scratch/dump" 2> "$scratch/dump.err"
    "$example" "${args[@]}" > "$scratch/example" 2> "$scratch/example.err"
    if [ ! -s "$scratch/dump" ]; then fail "dump printed nothing (Accept: ${accept:-none})"
    elif cmp -s "$scratch/dump" "$scratch/example"; then echo "ok   same $(wc -c < "$scratch/dump") bytes as dump (Accept: ${accept:-none})"
    else fail "differs from dump (Accept: ${accept:-none})"; diff "$scratch/dump" "$scratch/example" | head -n 10; fi
done

# Problems go to stderr, once, through ProblemLog; the body is still printed.
printf '\0\0' > "$scratch/dir/counter_999.db"
"$example" "$scratch/dir" > "$scratch/example" 2> "$scratch/example.err"
grep -q '^embedding: warning: counter_999.db' "$scratch/example.err" || fail "no warning for a 2-byte file: $(cat "$scratch/example.err")"
grep -q '^demo_requests_total' "$scratch/example" || fail "no body next to a bad file"

# The values API (Snapshot.families, MultiprocCollector.Label next to the example's own Label).
"$example" "$scratch/dir" --families > "$scratch/families" 2>/dev/null
grep -q '^# demo_requests counter$' "$scratch/families" || fail "--families: no demo_requests family"
grep -q '^demo_requests_total{route="/",status="200"} ' "$scratch/families" || fail "--families: no labelled sample"

# CollectorError cases, each with its own message and exit status 2.
check_error() {
    local expected=$1; shift
    if "$example" "$@" > /dev/null 2> "$scratch/error"; then fail "$* succeeded"; return; fi
    grep -q "$expected" "$scratch/error" || fail "$*: expected '$expected', got: $(cat "$scratch/error")"
}
check_error "does not exist" "$scratch/missing"
check_error "is a file, not the metrics directory" "$scratch/dir/counter_999.db"
check_error "usage:" 

if [ "$failures" -gt 0 ]; then echo "examples/embedding: $failures failure(s)"; exit 1; fi
echo "examples/embedding: output equals dump; warnings, families and errors as expected"
