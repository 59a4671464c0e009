#!/usr/bin/env python3
"""`pinstream sql`, `report` and `jobs` as a user runs them (label e2e):

- sql: a statement, -f FILE with two statements, stdin, every output format, errors and exit
  codes, the interactive shell on a pseudo-terminal (.mode, .tables, a multi-line statement);
- jobs: a daemon with an HTTP listener and two jobs — `jobs run` goes through the running daemon
  (the data dir is locked), a failing job is recorded as failed while the daemon stays up,
  `jobs history` shows both; after the daemon stops `jobs run` runs in-process and adds a version.
"""
import argparse
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from e2e_util import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DATA = os.path.abspath(os.path.join(ROOT, "tests", "data", "pinterest"))


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)



def run(binary, *args, stdin=None, env=None):
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120)


def shell_session(binary, data_dir, lines):
    """Drives the interactive shell on a pseudo-terminal; returns everything it printed."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(binary, [binary, "sql", "-d", data_dir])
    out = b""

    def read_until(marker, timeout=20):
        nonlocal out
        deadline = time.monotonic() + timeout
        while marker not in out:
            left = deadline - time.monotonic()
            if left <= 0:
                fail(f"shell never printed {marker!r}; got {out[-500:]!r}")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk

    read_until(b"pinstream> ")
    for line, expect in lines:
        os.write(fd, (line + "\n").encode())
        read_until(expect.encode())
    os.write(fd, b".quit\n")
    _, status = os.waitpid(pid, 0)
    check(os.waitstatus_to_exitcode(status) == 0, "shell did not exit 0")
    return out.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    b = a.binary
    work = tempfile.mkdtemp(prefix="pinstream-sqljobs-")
    data = f"{work}/data"
    env = dict(os.environ, PINSTREAM_DATA_DIR=data, PINSTREAM_INPUT=DATA)
    r = subprocess.run([b, "run", os.path.join(ROOT, "conf", "pinterest-files.yaml")], env=env, capture_output=True,
                       text=True, timeout=300)
    check(r.returncode == 0, f"file pipeline failed: {r.stderr[-2000:]}")

    # ---- sql ----------------------------------------------------------------------------------
    r = run(b, "sql", "-d", data, "SELECT count(*) AS n FROM pin", "--format", "csv")
    check(r.returncode == 0 and r.stdout == "n\n5252\n", f"csv count: {r.stdout!r} {r.stderr!r}")
    check("(1 row," in r.stderr, f"row count on stderr: {r.stderr!r}")
    r = run(b, "sql", "-d", data, "SELECT ind, timestamp FROM geo ORDER BY ind LIMIT 2", "--format", "jsonl")
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    check(rows == [{"ind": 0, "timestamp": "2019-01-01T07:21:13.000Z"}, {"ind": 1, "timestamp": "2021-09-26T19:49:23.000Z"}],
          f"jsonl rows: {rows}")
    r = run(b, "sql", "-d", data, "SELECT 1 AS a, 'x' AS b", "--format", "markdown")
    check(r.stdout == "| a | b |\n| ---: | --- |\n| 1 | x |\n", f"markdown: {r.stdout!r}")
    with open(f"{work}/two.sql", "w") as f:
        f.write("-- first\nSELECT count(*) AS pins FROM pin;\n-- second\nSELECT count(*) AS geos FROM geo;\n")
    r = run(b, "sql", "-d", data, "-f", f"{work}/two.sql", "--format", "csv")
    check(r.stdout == "pins\n5252\ngeos\n11154\n", f"-f with two statements: {r.stdout!r}")
    r = run(b, "sql", "-d", data, "--format", "csv", stdin="SELECT max(ind) AS m FROM user;")
    check(r.stdout == "m\n11153\n", f"stdin: {r.stdout!r}")
    r = run(b, "sql", "-d", data, "SELEC nonsense")
    check(r.returncode == 1 and "SQL error" in r.stderr, f"syntax error: {r.returncode} {r.stderr!r}")
    r = run(b, "sql", "-d", data, "INSERT INTO pin(ind) VALUES (1)")
    check(r.returncode == 1 and "read-only" in r.stderr, f"insert refused: {r.stderr!r}")
    r = run(b, "sql", "-d", f"{work}/nope", "SELECT 1")
    check(r.returncode != 0 and r.stderr.strip(), "missing data dir must fail with a message")

    out = shell_session(b, data, [
        ("SELECT 40 + 2 AS answer;", "(1 row"),
        (".mode csv", "pinstream> "),
        ("SELECT count(*) AS n", "...> "),  # continuation prompt until the ';'
        ("FROM pin;", "5252"),
        (".tables", "user_raw"),
        ("SELECT * FROM missing;", "no such table"),
    ])
    check("42" in out, "shell result")

    # ---- report ---------------------------------------------------------------------------------
    r = run(b, "report", "-d", data, "--queries", os.path.join(ROOT, "conf", "queries"))
    check(r.returncode == 0 and r.stdout.count("\n== ") + r.stdout.startswith("== ") == 9, f"report titles: {r.stdout[:300]!r}")
    check("Q8. Median follower count by joining year and age group" in r.stdout, "report title text")

    # ---- jobs -----------------------------------------------------------------------------------
    port = free_port()
    with open(f"{work}/bad.sql", "w") as f:
        f.write("SELECT * FROM no_such_table;\n")
    cfg = f"{work}/jobs.yaml"
    with open(cfg, "w") as f:
        f.write(f"""data_dir: {data}
http: {{listen: 127.0.0.1:{port}}}
sources:
  none: {{kind: file, path: {work}/empty}}
queries:
  - name: idle
    source: none
    sink: {{kind: jsonl, path: {work}/out}}
jobs:
  - name: analysis
    every: 24h
    sql: [{ROOT}/conf/queries/q1.sql, {ROOT}/conf/queries/q3.sql]
  - name: broken
    cron: "@daily"
    sql: [bad.sql]
""")
    os.makedirs(f"{work}/empty", exist_ok=True)
    r = run(b, "validate", cfg)
    check(r.returncode == 0, f"validate: {r.stdout} {r.stderr}")
    log = open(f"{work}/daemon.log", "ab")
    daemon = subprocess.Popen([b, "run", cfg], stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2).status == 200:
                break
        except OSError:
            pass
        check(time.monotonic() < deadline and daemon.poll() is None, "daemon never became ready")
        time.sleep(0.05)
    r = run(b, "jobs", "run", "analysis", "-c", cfg)
    check(r.returncode == 0 and "queued in the running daemon" in r.stdout and "succeeded" in r.stdout,
          f"jobs run through the daemon: {r.stdout!r} {r.stderr!r}")
    check("q3_result_b" in r.stdout, f"lettered tables: {r.stdout!r}")
    r = run(b, "jobs", "run", "broken", "-c", cfg)
    check(r.returncode == 1 and "no such table: no_such_table" in r.stdout, f"failing job: {r.stdout!r} {r.stderr!r}")
    check(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).status == 200, "daemon must stay up")
    r = run(b, "jobs", "run", "nope", "-c", cfg)
    check(r.returncode == 2 and "no job 'nope'" in r.stderr, f"unknown job: {r.stderr!r}")
    jobs = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/jobs", timeout=2).read())
    check([j["name"] for j in jobs] == ["analysis", "broken"], f"/jobs: {jobs}")
    check(jobs[1]["lastRun"]["status"] == "failed", f"/jobs last run: {jobs[1]}")
    daemon.send_signal(signal.SIGTERM)
    check(daemon.wait(timeout=60) == 0, "daemon did not stop cleanly")

    r = run(b, "jobs", "history", "-c", cfg)
    check("analysis" in r.stdout and "broken" in r.stdout and "failed" in r.stdout and "succeeded" in r.stdout,
          f"history: {r.stdout}")
    r = run(b, "jobs", "run", "analysis", "-c", cfg)  # the daemon is gone: runs in this process
    check(r.returncode == 0 and "queued" not in r.stdout and "q1_result                version 1" in r.stdout,
          f"in-process run: {r.stdout!r} {r.stderr!r}")
    r = run(b, "sql", "-d", data, "SELECT (SELECT count(*) FROM q1_result) = (SELECT count(*) FROM q1_result_at(0)) AS same",
            "--format", "csv")
    check(r.stdout == "same\n1\n", f"versions of a result table: {r.stdout!r}")
    r = run(b, "jobs", "list", "-c", cfg)
    check("every 1d" in r.stdout and "cron @daily" in r.stdout, f"jobs list: {r.stdout}")
    shutil.rmtree(work, ignore_errors=True)
    print("PASS sql_jobs")


if __name__ == "__main__":
    main()
