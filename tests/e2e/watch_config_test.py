#!/usr/bin/env python3
"""`pinstream run --watch-config` (label e2e): the daemon reloads its config when the file, or a
SQL file it names, changes — without SIGHUP or `pinstream reload`:

1. the file replaced the way editors and config management do (a new file renamed over it)
   with a query added: the query starts, the other keeps its runId;
2. five writes in a row (an editor's saves, a file written in pieces) make one reload, not five
   (debounced);
3. a write that changes nothing (the same bytes) does not reload;
4. an invalid file (an unknown key) is logged with its file:line:column and changes nothing;
   fixing it reloads;
5. a change to a job's SQL file reloads too.
The daemon logs JSON (log.format: json); the test counts its "config reloaded" and "reload
refused" events.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402
from e2e_util import check, free_port, wait  # noqa: E402

BASE = """data_dir: {work}/data
log: {{format: json}}
http:
  listen: 127.0.0.1:{port}
  topics: [a]
sources:
  a: {{kind: http, topic: a}}
queries:
  - name: first
    source: a
    trigger: {{processing_time: 100ms}}
    sink: {{kind: delta, table: first_rows}}
{extra}jobs:
  - name: count
    every: 1h
    sql: [count.sql]
"""
SECOND = """  - name: second
    source: a
    trigger: {processing_time: 100ms}
    sink: {kind: delta, table: second_rows}
"""


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return 0, str(e).encode()


def queries(port):
    status, body = get(port, "/queries")
    check(status == 200, f"GET /queries: {status} {body[:200]!r}")
    return {q["name"]: q for q in json.loads(body)}


def events(work, message):
    """The daemon's JSON log events whose message starts with `message`."""
    out = []
    with open(f"{work}/log.txt", errors="replace") as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("message", "").startswith(message):
                out.append(e)
    return out


def replace(path, text):
    """As editors and config management write a file: a new one renamed over it."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pinstream-watch-")
    e2e_util.work_dir = work
    port = free_port()
    path = f"{work}/pipeline.yaml"
    sql = f"{work}/count.sql"
    with open(sql, "w") as f:
        f.write("SELECT count(*) AS c FROM first_rows\n")
    with open(path, "w") as f:
        f.write(BASE.format(work=work, port=port, extra=""))
    log = open(f"{work}/log.txt", "wb")
    proc = subprocess.Popen([a.binary, "run", path, "--watch-config"], stdout=log, stderr=log)
    reloaded = lambda: len(events(work, "config reloaded"))  # noqa: E731
    try:
        wait(lambda: proc.poll() is not None or get(port, "/ready")[0] == 200, "the daemon to be ready", 60)
        check(proc.poll() is None, f"the daemon exited {proc.returncode}")
        watching = events(work, "watching the config")
        check(len(watching) == 1 and "count.sql" in watching[0].get("files", ""),
              f"the watcher's start event: {watching}")
        before = queries(port)
        check(set(before) == {"first"}, f"queries at start: {sorted(before)}")

        # 1. A query added, the file replaced by a rename.
        replace(path, BASE.format(work=work, port=port, extra=SECOND))
        wait(lambda: "second" in queries(port), "the added query to start", 30)
        check(queries(port)["first"]["runId"] == before["first"]["runId"], "the unchanged query restarted")
        wait(lambda: reloaded() == 1, "one reload")

        # 2. Five writes in quick succession (in place): one reload.
        for i in range(5):
            with open(path, "w") as f:
                f.write(BASE.format(work=work, port=port, extra=SECOND) + f"# save {i}\n")
        wait(lambda: reloaded() == 2, "the debounced reload")
        time.sleep(1)  # longer than the debounce: a second reload would have started by now
        check(reloaded() == 2, f"five quick writes made {reloaded() - 1} reloads")

        # 3. The same bytes written again: no reload.
        with open(path, "w") as f:
            f.write(BASE.format(work=work, port=port, extra=SECOND) + "# save 4\n")
        time.sleep(1)
        check(reloaded() == 2, "a write without a change reloaded")

        # 4. An invalid file: refused with file:line:column, nothing changes; fixed: reloaded.
        runs = {n: q["runId"] for n, q in queries(port).items()}
        with open(path, "w") as f:
            f.write(BASE.format(work=work, port=port, extra=SECOND).replace("    source: a\n", "    source: a\n    shardz: 2\n", 1))
        wait(lambda: events(work, "reload refused"), "the invalid file's refusal")
        refused = events(work, "reload refused")[0]
        check("pipeline.yaml:" in refused.get("error", "") and "unknown key 'shardz'" in refused["error"],
              f"the refusal: {refused}")
        check({n: q["runId"] for n, q in queries(port).items()} == runs, "the invalid file changed the queries")
        replace(path, BASE.format(work=work, port=port, extra=""))
        wait(lambda: set(queries(port)) == {"first"}, "the fixed file's reload (second removed)")
        check(reloaded() == 3, f"reloads after the fix: {reloaded()}")

        # 5. The job's SQL file changes: a reload.
        with open(sql, "w") as f:
            f.write("SELECT count(*) AS n FROM first_rows\n")
        wait(lambda: reloaded() == 4, "the reload after the SQL file changed")
        check(proc.poll() is None, "the daemon exited")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        log.close()
    check(rc == 0, f"the daemon exited {rc} on SIGTERM")
    shutil.rmtree(work, ignore_errors=True)
    print("watch_config: OK (4 reloads from file changes, 1 refused, debounced)")


if __name__ == "__main__":
    main()
