#!/usr/bin/env bash
# conf/REFERENCE.md must be what the binary prints (ctest layout.config_reference): the reference
# is generated from the parsers' key tables, so a key added, removed or changed in a parser
# without regenerating the file fails here, with the difference.
#
#   tests/layout/check_config_reference.sh PINSTREAM_BINARY [SOURCE_DIR]
set -uo pipefail
bin="$1"
root="${2:-$(cd "$(dirname "$0")/../.." && pwd)}"
if ! diff -u "$root/conf/REFERENCE.md" <("$bin" config reference --format markdown); then
  echo "conf/REFERENCE.md is stale: regenerate it with" >&2
  echo "  pinstream config reference --format markdown > conf/REFERENCE.md" >&2
  exit 1
fi
echo "conf/REFERENCE.md matches 'pinstream config reference --format markdown'"
