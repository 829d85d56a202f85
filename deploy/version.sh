#!/usr/bin/env bash
# The version `make dist` builds into the binary and names the tarball and package after: a
# Debian version (dpkg --compare-versions orders it) made from Package.swift's baseVersion,
# the version being developed, and `git describe`:
#
#   commit tagged v<base>, clean tree    <base>                          0.2.0
#   ... with uncommitted changes         <base>+git0.g<commit>.dirty     0.2.0+git0.g1a2b3c4.dirty
#   any other commit                     <base>~dev+git<n>.g<commit>     0.2.0~dev+git12.g1a2b3c4
#   ... with uncommitted changes         <base>~dev+git<n>.g<commit>.dirty
#
# n counts the commits since the last v* tag (since the first commit when there is none), so
# development builds sort in commit order, after the last release and before <base> itself
# ("~" sorts before everything, even the end of the string). After tagging v<base>, raise
# baseVersion in Package.swift: this script refuses to number builds after a tag with a base
# that is not above it. A shallow clone without tags counts only the commits it has.
#
# usage: deploy/version.sh              the version
#        deploy/version.sh --revision   the full commit (git rev-parse HEAD)
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "deploy/version.sh: $*" >&2; exit 1; }

git rev-parse --git-dir >/dev/null 2>&1 \
  || fail "not a git checkout: set MULTIPROC_EXPORTER_VERSION and MULTIPROC_EXPORTER_REVISION instead"
if [[ "${1:-}" == --revision ]]; then git rev-parse HEAD; exit 0; fi
[[ $# == 0 ]] || fail "usage: deploy/version.sh [--revision]"

base=$(sed -n 's/^let baseVersion = "\([0-9][0-9.]*\)"$/\1/p' Package.swift)
[[ -n "$base" ]] || fail 'no line `let baseVersion = "X.Y.Z"` in Package.swift'

# v0.2.0 | v0.1.0-12-g1a2b3c4 | 1a2b3c4 (no tag), each maybe followed by -dirty
described=$(git describe --tags --always --dirty --abbrev=7 --match 'v[0-9]*')
dirty=""
if [[ $described == *-dirty ]]; then dirty=.dirty; described=${described%-dirty}; fi
commit=$(git rev-parse --short=7 HEAD)

if [[ $described =~ ^v([0-9][0-9a-z.+~]*)(-([0-9]+)-g[0-9a-f]+)?$ ]]; then
  tag=${BASH_REMATCH[1]}
  distance=${BASH_REMATCH[3]:-0}
  if [[ $distance == 0 ]]; then
    [[ $tag == "$base" ]] || fail "HEAD is tagged v$tag but Package.swift's baseVersion is $base: make them agree"
    # A release, or a change to it, which sorts after it.
    [[ -z $dirty ]] && echo "$tag" || echo "$tag+git0.g$commit$dirty"
    exit 0
  fi
  dpkg --compare-versions "$base" gt "$tag" \
    || fail "baseVersion $base in Package.swift is not above the last tag v$tag: raise it (the next release)"
else
  distance=$(git rev-list --count HEAD)
fi
echo "$base~dev+git$distance.g$commit$dirty"
