#!/usr/bin/env bash
# commit_capture_test.sh SOURCE_DIR — host/version/capture_commit.cmake writes the commit a build reports:
#   - for SOURCE_DIR, git's abbreviated HEAD when SOURCE_DIR is the top of a git work tree, else "unknown";
#   - "unknown" for a folder that is not in any git checkout (an unpacked release tarball);
#   - "unknown" for a folder inside a checkout that is not its top (a tarball unpacked inside another repository
#     must not take that repository's commit).
# Exit 0 when all three hold.
set -euo pipefail
source_dir=$(cd "$1" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/warmup-commit-test-XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

capture() {  # SOURCE OUTPUT_NAME -> prints the captured commit
  cmake -DSOURCE_DIR="$1" -DVERSION=9.9.9 -DINPUT="$source_dir/host/version/build_commit.cpp.in" \
        -DOUTPUT="$work/$2.cpp" -P "$source_dir/host/version/capture_commit.cmake"
  grep -q 'kBuildVersion = "9.9.9";' "$work/$2.cpp" || fail "$2: version not written"
  sed -n 's/.*kBuildCommit = "\(.*\)";/\1/p' "$work/$2.cpp"
}

expected=unknown
if top=$(git -C "$source_dir" rev-parse --show-toplevel 2>/dev/null) && [ "$(cd "$top" && pwd -P)" = "$(cd "$source_dir" && pwd -P)" ]; then
  expected=$(git -C "$source_dir" rev-parse --short=12 HEAD)
fi
[ "$(capture "$source_dir" checkout)" = "$expected" ] || fail "checkout: expected $expected, got $(capture "$source_dir" checkout)"

mkdir "$work/unversioned"
[ "$(capture "$work/unversioned" unversioned)" = unknown ] || fail "unversioned folder: expected unknown"
[ "$(capture "$source_dir/sdk" subfolder)" = unknown ] || fail "folder inside a checkout: expected unknown"
echo "commit capture test: OK (this checkout: $expected)"
