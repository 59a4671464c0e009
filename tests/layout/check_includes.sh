#!/usr/bin/env bash
# The layer rules of the source tree, checked on every test run (ctest layout.includes):
#   engine/      includes no other pinstream folder (state, connectors, operators, app)
#   operators/   includes engine/ only
#   state/       includes engine/ and state/ only
#   connectors/  includes engine/, state/ and connectors/ only
#   views/       includes engine/ and views/ only (it will include operators/ and state/ once views
#                lower to operators)
#   app/         is included by nothing but itself and its own tests (tests/unit/app/, and
#                tests/fuzz/, whose config fuzzer loads configs with the daemon's registries)
# and each third-party library stays in the folder that owns it: RocksDB in state/ (and bench/),
# SQLite in state/sql/, libpg_query in views/, librdkafka in connectors/kafka/, Beast/Asio in connectors/http/ and app/,
# libsystemd in app/.
# Prints every violation as file:line and exits 1 if there is one.
#
#   tests/layout/check_includes.sh [SOURCE_DIR]
set -uo pipefail
root="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$root" || exit 2
status=0

# violations DESCRIPTION DIRS PATTERN [EXCLUDED_DIR...]: #include lines matching PATTERN in the
# .h/.cc files under DIRS (a space-separated list), except those under an EXCLUDED_DIR.
violations() {
  local what=$1 dirs=$2 pattern=$3
  shift 3
  local found
  # shellcheck disable=SC2086
  found=$(find $dirs -type f \( -name '*.h' -o -name '*.cc' \) 2>/dev/null | sort | while read -r f; do
    for ex in "$@"; do [[ $f == "$ex"/* ]] && continue 2; done
    grep -HnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pattern)" "$f"
  done)
  if [[ -n $found ]]; then
    echo "$what:"
    echo "$found" | sed 's/^/  /'
    status=1
  fi
}

violations "engine/ includes another pinstream folder" engine 'state/|connectors/|operators/|app/|tests/|bench/'
violations "operators/ includes more than engine/" operators 'state/|connectors/|app/|tests/|bench/'
violations "state/ includes more than engine/" state 'connectors/|operators/|app/|tests/|bench/'
violations "connectors/ includes operators/ or app/" connectors 'operators/|app/|tests/|bench/'
violations "views/ includes more than engine/" views 'state/|operators/|connectors/|app/|tests/|bench/'
violations "app/ is included outside app/" "engine state operators connectors views bench tests" 'app/' tests/unit/app \
  tests/fuzz
violations "RocksDB outside state/" "engine operators connectors app" 'rocksdb/'
violations "SQLite outside state/sql/" "engine operators connectors state views" 'sqlite3' state/sql
violations "libpg_query outside views/" "engine operators connectors state app" 'pg_query'
for d in engine state operators connectors; do
  violations "$d/ includes views/" "$d" 'views/'
done
violations "librdkafka outside connectors/kafka/" "engine operators state connectors" 'librdkafka/' connectors/kafka
violations "Beast/Asio outside connectors/http/ and app/" "engine operators state connectors" 'boost/(beast|asio)' connectors/http
violations "libsystemd outside app/" "engine operators state connectors" 'systemd/'

if [[ $status -eq 0 ]]; then echo "layout: every include follows the layer rules"; fi
exit $status
