#!/usr/bin/env python3
"""Disk full end to end (label e2e): the daemon's data dir on a 64 MiB tmpfs the test mounts (it
runs as root; without the right to mount it skips, exit 77, saying why). A file fills most of the
space, then clients post until the disk is full:
- the REST Proxy answers 503 with its error body (error_code 50003) and Retry-After, the Kinesis
  APIs (the API Gateway shape and the native one) 503 with their error shape and Retry-After;
- /ready answers 503 saying the disk is full (and /store says why);
- the filler is deleted: without a restart, ingest answers 200 again, /ready 200, the queries
  commit again (none failed);
- every acknowledged record is exactly once in the raw table and in the deduplicated table; a
  record whose request failed is there at most once.
"""
import argparse
import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402
from e2e_util import Daemon, check, fail, wait  # noqa: E402

CONFIG = """
data_dir: ${DISKFULL_DATA_DIR}
storage: {write_buffer: 1MiB, block_cache: 4MiB}
http:
  listen: ${PINSTREAM_LISTEN}
  topics: [{name: full, partitions: 2}]
  streams: [{name: full-stream, shards: 2}]
sources:
  topic: {kind: http, topic: full}
  stream: {kind: http, stream: full-stream}
queries:
  - name: raw
    sources: [topic, stream]
    trigger: {processing_time: 200ms}
    operators: [{kind: cast, columns: {value: string}}]
    sink: {kind: delta, table: raw}
  - name: dedup
    sources: [topic, stream]
    trigger: {processing_time: 200ms}
    operators:
      - {kind: parse_json, schema: {id: int64, pad: string}}
      - {kind: dedup, keys: [id]}
      - {kind: select, columns: [id]}
    sink: {kind: delta, table: dedup}
"""
SKIP = 77


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    work = e2e_util.work_dir = tempfile.mkdtemp(prefix="pinstream-diskfull-")
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"SKIP: cannot mount a 64 MiB tmpfs for the data dir (needs root or CAP_SYS_ADMIN): "
              f"{r.stderr.strip()}")
        shutil.rmtree(work, ignore_errors=True)
        sys.exit(SKIP)
    try:
        run(a, work, mnt)
    finally:
        subprocess.run(["umount", "-l", mnt])
    shutil.rmtree(work, ignore_errors=True)


def run(a, work, mnt):
    config = os.path.join(work, "full.yaml")
    with open(config, "w") as f:
        f.write(CONFIG)
    data_dir = f"{mnt}/data"  # the log stays outside the tmpfs, in work/log.txt
    d = Daemon(a.binary, work, config, "d", "", {"DISKFULL_DATA_DIR": data_dir})
    try:
        check_disk_full(a, d, mnt, data_dir)
    finally:
        d.kill()  # a failed check leaves no daemon behind


def check_disk_full(a, d, mnt, data_dir):
    filler = os.path.join(mnt, "filler")
    st = os.statvfs(mnt)
    with open(filler, "wb") as f:  # all but ~10 MiB
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - (10 << 20)))
    acked, failed = {}, {}
    pad = "x" * 3000
    next_id = 0
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)

    def post(api, n):
        """Posts n new records through `api`; (status, headers, body)."""
        nonlocal next_id, c
        ids = list(range(next_id, next_id + n))
        next_id += n
        if api == "rest":
            body = json.dumps({"records": [{"value": {"id": i, "pad": pad}} for i in ids]})
            req = ("POST", "/topics/full", body, {"Content-Type": "application/vnd.kafka.json.v2+json"})
        elif api == "gateway":
            body = json.dumps({"StreamName": "full-stream", "records": [
                {"data": {"id": i, "pad": pad}, "partition-key": str(i)} for i in ids]})
            req = ("PUT", "/streams/full-stream/records", body, {"Content-Type": "application/json"})
        else:  # the native Kinesis API, as an AWS SDK sends it (JSON 1.1, base64 data)
            body = json.dumps({"StreamName": "full-stream", "Records": [
                {"Data": base64.b64encode(json.dumps({"id": i, "pad": pad}).encode()).decode(),
                 "PartitionKey": str(i)} for i in ids]})
            req = ("POST", "/", body, {"Content-Type": "application/x-amz-json-1.1",
                                       "X-Amz-Target": "Kinesis_20131202.PutRecords"})
        try:
            c.request(*req)
            resp = c.getresponse()
            status, headers, raw = resp.status, dict(resp.getheaders()), resp.read()
        except (OSError, http.client.HTTPException) as e:
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
            fail(f"{api}: no answer ({e})")
        ok = status == 200
        if ok and api != "rest":
            recs = json.loads(raw)["Records"]
            for i, rec in zip(ids, recs):
                (failed if "ErrorCode" in rec else acked)[i] = api
        else:
            for i in ids:
                (acked if ok else failed)[i] = api
        return status, headers, raw

    # Fill the disk: each API in turn, until each has answered 503 at least once.
    refusals = {}
    deadline = time.monotonic() + 120
    while len(refusals) < 3:
        check(time.monotonic() < deadline, f"the disk never filled: refusals {list(refusals)}, "
              f"{len(acked)} records acknowledged, {os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize} bytes free")
        check(d.p.poll() is None, f"the daemon exited {d.p.returncode}")
        for api in ("rest", "gateway", "native"):
            status, headers, raw = post(api, 20)
            if status == 200:
                continue
            check(status == 503, f"{api} answered {status} {raw[:300]!r} (expected 200 or 503)")
            check(headers.get("Retry-After"), f"{api}: 503 without Retry-After: {headers}")
            refusals.setdefault(api, (headers, json.loads(raw)))
    rest_body = refusals["rest"][1]
    check(rest_body.get("error_code") == 50003 and "disk full" in rest_body.get("message", ""),
          f"REST Proxy error body: {rest_body}")
    for api in ("gateway", "native"):
        body = refusals[api][1]
        check(body.get("__type") == "ServiceUnavailable" and "disk full" in body.get("message", ""),
              f"{api} error body: {body}")
    print("refusals:", {api: refusals[api][1] for api in refusals})
    code, body = d.request("/ready")
    check(code == 503 and b"disk" in body.lower(), f"/ready while the disk is full: {code} {body!r}")
    print("/ready while full:", body.decode())

    # Space back: ingest and the queries resume without a restart.
    os.remove(filler)
    wait(lambda: post("rest", 5)[0] == 200, "ingest to answer 200 once space is free", 60, 0.5)
    for api in ("gateway", "native"):
        status, _, raw = post(api, 5)
        check(status == 200, f"{api} after space came back: {status} {raw[:300]!r}")
    wait(lambda: d.status("/ready") == 200, "/ready to answer 200 once space is free", 60)
    # The queries retried their failed commits (with backoff): none failed, all commit again.
    def committing():
        queries = d.json("/queries")
        check(all(q["state"] != "FAILED" for q in queries), f"a query failed: {queries}")
        return all(q["batchesCommitted"] > 0 and not q["error"] for q in queries)
    wait(committing, "the queries to commit again once space is free", 150, 0.5)

    def rows(table):
        r = subprocess.run([a.binary, "sql", "-d", data_dir, "--format", "jsonl", f"SELECT * FROM {table}"],
                           capture_output=True, text=True)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()] if r.returncode == 0 else []
    wait(lambda: {row["id"] for row in rows("dedup")} >= set(acked), "every acknowledged record in dedup", 120, 0.5)
    d.stop()
    check(d.p.returncode == 0, f"the daemon exited {d.p.returncode} on SIGTERM")
    raw_ids = [json.loads(row["value"])["id"] for row in rows("raw")]
    counts = {}
    for i in raw_ids:
        counts[i] = counts.get(i, 0) + 1
    twice = [i for i, n in counts.items() if n > 1]
    check(not twice, f"records in the raw table twice: {twice[:10]}")
    missing = [i for i in acked if i not in counts]
    check(not missing, f"acknowledged records missing from the raw table: {missing[:10]} of {len(missing)}")
    stray = [i for i in counts if i not in acked and i not in failed]
    check(not stray, f"records never sent in the raw table: {stray[:10]}")
    dedup = [row["id"] for row in rows("dedup")]
    check(len(dedup) == len(set(dedup)) and set(dedup) == set(counts),
          f"dedup holds {len(dedup)} rows ({len(set(dedup))} ids), raw {len(counts)} ids")
    print(f"PASS disk_full: {len(acked)} records acknowledged (exactly once in raw and dedup), "
          f"{len(failed)} refused ({sum(1 for i in failed if i in counts)} of them stored after all), "
          f"ingest resumed without a restart")


if __name__ == "__main__":
    main()
