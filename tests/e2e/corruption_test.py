#!/usr/bin/env python3
"""A damaged table chunk end to end (label e2e): a daemon writes three versions of a table, each
version's chunks an SST file of its own (storage.ingest_min_bytes: 1); with the daemon stopped the
test flips one byte of the second version's chunk file on disk. Then `pinstream sql`:
- over the latest version exits non-zero with a Corruption error naming the table, the version
  and the checksum, and prints none of the rows;
- over the version before the damaged one (time travel, as the error advises) answers its rows.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402
from e2e_util import Daemon, check, wait  # noqa: E402

CONFIG = """
data_dir: ${PINSTREAM_DATA_DIR}
storage: {table_compression: none, ingest_min_bytes: 1}
http:
  listen: ${PINSTREAM_LISTEN}
  topics: [{name: c, partitions: 1}]
sources:
  c: {kind: http, topic: c}
queries:
  - name: tagged
    sources: [c]
    trigger: {processing_time: 100ms}
    operators:
      - {kind: parse_json, schema: {id: int64, tag: string}}
      - {kind: select, columns: [id, tag]}
    sink: {kind: delta, table: tagged}
"""


def sql(binary, data_dir, statement):
    return subprocess.run([binary, "sql", "-d", data_dir, "--format", "jsonl", statement],
                          capture_output=True, text=True)


def count(binary, data_dir):
    rows = e2e_util.sql_rows(binary, data_dir, "SELECT count(*) AS n FROM tagged")
    return rows[0]["n"] if rows else 0


def flip_in_table_sst(data_dir, needle):
    """Flips a byte of `needle` in the tables family's SST file holding it; the file's name."""
    for name in sorted(os.listdir(data_dir)):
        if not name.endswith(".sst"):
            continue
        path = os.path.join(data_dir, name)
        data = open(path, "rb").read()
        at = data.find(needle)
        cf = data.find(b"rocksdb.column.family.name")
        # The source log's files hold the same text (the posted JSON): only the tables family's
        # (ingested chunk files, written apart from any family, name none).
        if at < 0 or (cf >= 0 and b"tables" not in data[cf:cf + 40]):
            continue
        with open(path, "r+b") as f:
            f.seek(at + len(needle) // 2)
            f.write(bytes([data[at + len(needle) // 2] ^ 0x20]))
        return name
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    work = e2e_util.work_dir = tempfile.mkdtemp(prefix="pinstream-corrupt-")
    config = os.path.join(work, "corrupt.yaml")
    with open(config, "w") as f:
        f.write(CONFIG)
    data_dir = f"{work}/d-data"
    d = Daemon(a.binary, work, config, "d", "")
    try:
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
        for n, tag in enumerate(["first", "second", "third"]):
            body = json.dumps({"records": [{"value": {"id": n * 50 + i, "tag": f"{tag}-batch-row-{i}"}}
                                           for i in range(50)]})
            c.request("POST", "/topics/c", body, {"Content-Type": "application/vnd.kafka.json.v2+json"})
            r = c.getresponse()
            r.read()
            check(r.status == 200, f"POST /topics/c: HTTP {r.status}")
            wait(lambda: count(a.binary, data_dir) == (n + 1) * 50, f"{(n + 1) * 50} rows in 'tagged'")
        d.stop()
        check(d.p.returncode == 0, f"the daemon exited {d.p.returncode} on SIGTERM")
    finally:
        d.kill()
    intact = sql(a.binary, data_dir, "SELECT tag FROM tagged")
    check(intact.returncode == 0 and len(intact.stdout.splitlines()) == 150,
          f"before the damage: exit {intact.returncode}, {len(intact.stdout.splitlines())} rows")
    damaged = flip_in_table_sst(data_dir, b"second-batch-row-17")
    check(damaged, "no SST file of the tables family holds the second batch's rows")
    r = sql(a.binary, data_dir, "SELECT tag FROM tagged")
    print(f"damaged {damaged}; pinstream sql exit {r.returncode}: {r.stderr.strip()[:400]}")
    check(r.returncode != 0, f"a damaged chunk was read: exit 0, {len(r.stdout.splitlines())} rows")
    check("second-batch" not in r.stdout and "third-batch" not in r.stdout,
          f"rows printed before the error: {r.stdout[:300]}")
    m = re.search(r"table 'tagged' versions? (\d+)", r.stderr)
    check(m and "Corruption" in r.stderr and "checksum" in r.stderr and damaged in r.stderr,
          f"the error does not name the table, version, checksum and file: {r.stderr[:500]}")
    # The version before the damaged one, as the error advises.
    v = int(m.group(1))
    check(v >= 1, f"the damaged version is {v}: the first one was not the second batch's")
    before = sql(a.binary, data_dir, f"SELECT tag FROM tagged_at({v - 1})")
    check(before.returncode == 0, f"time travel to version {v - 1} failed: {before.stderr[:300]}")
    tags = [json.loads(line)["tag"] for line in before.stdout.splitlines() if line.strip()]
    check(tags and all(t.startswith("first-batch") for t in tags),
          f"version {v - 1}: {len(tags)} rows, e.g. {tags[:3]}")
    print(f"OK: the damaged version {v} fails naming it; version {v - 1} reads {len(tags)} rows")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
