#!/usr/bin/env python3
"""The daemon's log and signals as an operator sees them (label e2e):

- `log: {format: json}`: every line the daemon writes is one JSON object with an RFC 3339 UTC
  `time` ending in Z, a `level`, a `thread` and a `message`; the lines that have them carry
  structured fields: `pinstream starting` (version, commit), `query started` (query, run_id),
  `batch committed` (query, batch, table, row counts), `job run started`/`succeeded` (job,
  run_id), `query stopped`;
- SIGHUP (what `systemctl reload` sends) does not stop the daemon: it reloads the (unchanged)
  config, logs `config reloaded` with its fields and keeps serving; SIGTERM then drains and
  exits 0;
- the text format: every line starts with a UTC timestamp with its zone (`...T..:..:..sssZ`) and
  carries the same fields as key=value pairs.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402
from e2e_util import fail, free_port, wait  # noqa: E402

CONFIG = """
data_dir: {work}/data-{fmt}
log: {{format: {fmt}}}
http:
  listen: 127.0.0.1:{port}
  topics: [t]
sources:
  t: {{kind: http, topic: t}}
queries:
  - name: q
    source: t
    trigger: {{processing_time: 100ms}}
    operators:
      - {{kind: parse_json, schema: {{n: int64}}}}
    sink: {{kind: delta, table: rows}}
jobs:
  - name: tally
    every: 24h
    run_on_start: true
    sql: [tally.sql]
"""
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (trace|debug|info|warning|error|critical) ")



def get(port, path, method="GET", body=None, headers=None):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request(method, path, body, headers or {})
        r = c.getresponse()
        return r.status, r.read()
    except OSError:
        return None, b""


def run_daemon(binary, work, fmt, hup=False):
    """Starts the daemon with `fmt` logs, produces 3 records, waits for the table and the job, (sends
    SIGHUP and checks it keeps serving), stops it with SIGTERM; returns its stderr lines."""
    port = free_port()
    config = f"{work}/{fmt}.yaml"
    with open(config, "w") as f:
        f.write(CONFIG.format(work=work, port=port, fmt=fmt))
    err_path = f"{work}/log.txt"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([binary, "run", config], stdout=subprocess.DEVNULL, stderr=err)
        try:
            wait(lambda: proc.poll() is not None or get(port, "/ready")[0] == 200, "the daemon to be ready", 60)
            if proc.poll() is not None:
                fail(f"the daemon exited {proc.returncode}")
            body = json.dumps({"records": [{"value": {"n": i}} for i in range(3)]})
            status, _ = get(port, "/topics/t", "POST", body, {"Content-Type": "application/vnd.kafka.json.v2+json"})
            if status != 200:
                fail(f"produce: {status}")

            def count():
                r = subprocess.run([binary, "scan", "rows", "--format", "jsonl", "-d", f"{work}/data-{fmt}"],
                                   capture_output=True, text=True)
                return len(r.stdout.splitlines()) if r.returncode == 0 else 0
            wait(lambda: count() == 3, "the 3 records in the table", 60)
            wait(lambda: "job run succeeded" in open(err_path, errors="replace").read(), "the job's run", 60)
            if hup:
                proc.send_signal(signal.SIGHUP)
                wait(lambda: "config reloaded" in open(err_path, errors="replace").read(),
                     "the SIGHUP's reload to be logged", 30)
                if proc.poll() is not None:
                    fail(f"SIGHUP ended the daemon (exit {proc.returncode})")
                if get(port, "/ready")[0] != 200:
                    fail("the daemon stopped serving after SIGHUP")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=60)
    if rc != 0:
        fail(f"the daemon exited {rc} on SIGTERM")
    return open(err_path, errors="replace").read().splitlines()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pinstream-logs-")
    e2e_util.work_dir = work
    with open(f"{work}/tally.sql", "w") as f:
        f.write("SELECT 1 AS one;\n")

    lines = run_daemon(a.binary, work, "json", hup=True)
    if len(lines) < 6:
        fail(f"only {len(lines)} log lines")
    records = []
    for i, line in enumerate(lines):
        try:
            r = json.loads(line)
        except ValueError as e:
            fail(f"log line {i + 1} is not JSON ({e}): {line!r}")
        if not isinstance(r, dict):
            fail(f"log line {i + 1} is not an object: {line!r}")
        for key in ("time", "level", "thread", "message"):
            if key not in r:
                fail(f"log line {i + 1} has no {key}: {line!r}")
        if not RFC3339_UTC.match(r["time"]):
            fail(f"log line {i + 1}: time {r['time']!r} is not RFC 3339 UTC")
        records.append(r)

    def find(message, **fields):
        for r in records:
            if r["message"] == message and all(r.get(k) == v for k, v in fields.items()):
                return r
        fail(f"no {message!r} line with {fields}; messages: {sorted(set(r['message'] for r in records))}")

    start = find("pinstream starting")
    if not start.get("version") or not start.get("commit"):
        fail(f"the start line has no version/commit: {start}")
    started = find("query started", query="q")
    if not started.get("run_id") or not isinstance(started.get("batch"), int):
        fail(f"query started without run_id/batch: {started}")
    batches = [r for r in records if r["message"] == "batch committed" and r.get("query") == "q"]
    if not batches or sum(r["input_rows"] for r in batches) != 3:
        fail(f"batch committed lines do not add up to the 3 records: {batches}")
    for r in batches:
        if r.get("table") != "rows" or not isinstance(r.get("batch"), int) or not isinstance(r.get("duration_ms"), int):
            fail(f"a batch committed line without its fields: {r}")
    find("job run started", job="tally")
    ok = find("job run succeeded", job="tally")
    if not ok.get("run_id") or "tables" not in ok:
        fail(f"job run succeeded without run_id/tables: {ok}")
    hup = [r for r in records if "SIGHUP" in r["message"]]
    if not hup or hup[0]["level"] != "info":
        fail(f"the SIGHUP line: {hup}")
    reloaded = find("config reloaded", started="", stopped="", restarted="")
    if reloaded.get("unchanged") != 1 or reloaded.get("refused") != 0:
        fail(f"the reload of the same file changed something: {reloaded}")
    find("query stopped", query="q")

    text = run_daemon(a.binary, work, "text")
    for i, line in enumerate(text):
        if not TEXT_LINE.match(line):
            fail(f"text log line {i + 1} does not start with a UTC timestamp and level: {line!r}")
    committed = [l for l in text if " batch committed " in l]
    if not committed or not all("query=q " in l and "table=rows" in l for l in committed):
        fail(f"text batch lines without key=value fields: {committed}")
    shutil.rmtree(work, ignore_errors=True)
    print(f"logs e2e: ok ({len(lines)} JSON lines, {len(text)} text lines)")


if __name__ == "__main__":
    main()
