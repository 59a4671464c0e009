#!/usr/bin/env bash
# The eight analysis queries (conf/queries, run by `pinstream report`) on the bundled data set,
# compared row for row with an independent pandas implementation (queries_reference.py) over
# the same cleaned tables exported with `pinstream export`; then the queries planned as live views
# must have the batch SQL's columns (view_columns_check.py).
#   tests/golden/queries_test.sh PINSTREAM_BINARY
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
bin="$1"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
work=$(mktemp -d /tmp/pinstream-queries-XXXXXX)
trap 'rm -rf "$work"' EXIT
data="$root/tests/data/pinterest"
PINSTREAM_DATA_DIR="$work/data" PINSTREAM_INPUT="$data" "$bin" run "$root/conf/pinterest-files.yaml" 2>"$work/daemon.log" \
  || { cat "$work/daemon.log"; exit 1; }
"$py" "$here/queries_reference.py" --binary "$bin" --data-dir "$work/data" --queries "$root/conf/queries"
# The same queries planned as live views: their columns must be the batch SQL's (names, types).
"$py" "$here/view_columns_check.py" --binary "$bin" --data-dir "$work/data" --input "$data"
