#!/usr/bin/env bash
# Golden test: the bundled data set through conf/pinterest-files.yaml gives exactly the tables
# an independent pandas implementation of PINTEREST.md §3 computes (clean_reference.py).
#   tests/golden/golden_test.sh PINSTREAM_BINARY
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
bin="$1"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
work=$(mktemp -d /tmp/pinstream-golden-XXXXXX)
trap 'rm -rf "$work"' EXIT
data="$root/tests/data/pinterest"
"$py" "$here/clean_reference.py" "$data" "$work/expected"
PINSTREAM_DATA_DIR="$work/data" PINSTREAM_INPUT="$data" "$bin" run "$root/conf/pinterest-files.yaml" 2>"$work/daemon.log" \
  || { cat "$work/daemon.log"; exit 1; }
"$py" "$here/compare_tables.py" --binary "$bin" --data-dir "$work/data" "$work/expected"
