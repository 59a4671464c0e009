#!/usr/bin/env python3
"""Reloading a running daemon's config (label e2e), while a client keeps posting to it:

1. the file gains a topic and a query reading it and loses a query: `pinstream reload -c CONFIG`
   (POST /reload with the admin token; without it: 401) creates the topic, starts the new query
   and drains the removed one; the unchanged queries keep their runId; the new query commits
   what is posted to the new topic; a job added (run_on_start) runs and writes its table;
2. an invalid file (an unknown key) is refused with its file:line:column and changes nothing;
3. a change to a query's stateful operator (dedup keys) would misread its state: refused for
   that query, which keeps running with the same runId and keeps committing; another query's
   harmless change in the same file restarts that query from its checkpoint (a new runId); the
   job's schedule changes (GET /jobs shows the new one);
4. the job removed (GET /jobs lists none); the http settings apply at once: a token added, the client switches to it, the old token
   removed — refused (401) by the first request after the reload while the new one is served;
   a smaller max_record_size refuses a record the old limit took; io_threads is reported as
   not applied (the listener binds it at start);
5. no produce request failed during all this, and every acknowledged record is in the table of
   the query that was restarted, exactly once.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402
from e2e_util import check, fail, free_port, wait  # noqa: E402

TOKEN = "reload-test-token"
NEW_TOKEN = "reload-test-token-2"

BASE = """data_dir: {work}/data
http:
  listen: 127.0.0.1:{port}
  auth: {{bearer_tokens: [{tokens}]}}
  topics: {topics}
{http_extra}
sources:
  a: {{kind: http, topic: a}}
{extra_sources}queries:
  - name: keep
    source: a
    trigger: {{processing_time: 100ms}}
    max_records_per_trigger: {keep_cap}
    operators: [{{kind: parse_json, schema: {{n: int64}}}}]
    sink: {{kind: delta, table: keep_rows}}
  - name: uniq
    source: a
    trigger: {{processing_time: 100ms}}
    operators:
      - {{kind: parse_json, schema: {{n: int64, m: int64}}}}
      - {{kind: dedup, keys: {dedup_keys}}}
    sink: {{kind: delta, table: uniq_rows}}
{extra_queries}{jobs}"""
JOB = """jobs:
  - name: count_keep
    every: {every}
    run_on_start: true
    sql: [count_keep.sql]
"""
REMOVED = """  - name: gone
    source: a
    trigger: {processing_time: 100ms}
    sink: {kind: delta, table: gone_rows}
"""
ADDED_SOURCE = "  b: {kind: http, topic: b}\n"
ADDED = """  - name: fresh
    source: b
    trigger: {processing_time: 100ms}
    operators: [{kind: parse_json, schema: {n: int64}}]
    sink: {kind: delta, table: fresh_rows}
"""


def config(work, port, *, topics="[a]", extra_sources="", extra_queries="", keep_cap=200000,
           dedup_keys="[n]", tokens=TOKEN, http_extra="", job_every=None):
    return BASE.format(work=work, port=port, tokens=tokens, topics=topics, extra_sources=extra_sources,
                       extra_queries=extra_queries, keep_cap=keep_cap, dedup_keys=dedup_keys,
                       http_extra=http_extra, jobs=JOB.format(every=job_every) if job_every else "")


def http(port, path, method="GET", body=None, token=TOKEN):
    headers = {"Content-Type": "application/vnd.kafka.json.v2+json", "X-Pinstream-Client": "test"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, headers=headers,
                                 data=body.encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return 0, str(e).encode()


class Poster(threading.Thread):
    """Posts one record at a time to topic `a` until stopped; counts acknowledgements and
    failures (any answer but 200)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.acked, self.failures, self.stop = port, 0, [], threading.Event()
        self.token = TOKEN  # switched by the test when the tokens are rotated

    def run(self):
        n = 0
        while not self.stop.is_set():
            body = json.dumps({"records": [{"value": {"n": n, "m": n % 7}}]})
            status, text = http(self.port, "/topics/a", "POST", body, token=self.token)
            if status == 200:
                self.acked += 1
            else:
                self.failures.append((status, text[:200]))
            n += 1
            time.sleep(0.005)


def queries(port):
    status, body = http(port, "/queries")
    check(status == 200, f"GET /queries: {status} {body[:200]!r}")
    return {q["name"]: q for q in json.loads(body)}


def reload(binary, path):
    """`pinstream reload -c PATH --json`: (exit code, parsed answer or None, stderr)."""
    r = subprocess.run([binary, "reload", "-c", path, "--json"], capture_output=True, text=True, timeout=300)
    try:
        answer = json.loads(r.stdout) if r.stdout.strip() else None
    except ValueError:
        fail(f"reload printed no JSON: {r.stdout!r} {r.stderr!r}")
    return r.returncode, answer, r.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pinstream-reload-")
    e2e_util.work_dir = work
    port = free_port()
    path = f"{work}/pipeline.yaml"
    with open(path, "w") as f:
        f.write(config(work, port, extra_queries=REMOVED))
    with open(f"{work}/count_keep.sql", "w") as f:
        f.write("SELECT count(*) AS c FROM keep_rows\n")
    log = open(f"{work}/log.txt", "wb")
    proc = subprocess.Popen([a.binary, "run", path], stdout=log, stderr=log)
    poster = Poster(port)
    try:
        wait(lambda: proc.poll() is not None or http(port, "/ready", token=None)[0] == 200,
             "the daemon to be ready", 60)
        check(proc.poll() is None, f"the daemon exited {proc.returncode}")
        poster.start()
        wait(lambda: all(q["batchesCommitted"] > 0 for q in queries(port).values()), "every query's first batch")
        before = queries(port)
        check(set(before) == {"keep", "uniq", "gone"}, f"queries at start: {sorted(before)}")

        # 1. A topic and a query added, a query removed. The admin action needs the token.
        with open(path, "w") as f:
            f.write(config(work, port, topics="[a, b]", extra_sources=ADDED_SOURCE, extra_queries=ADDED,
                           job_every="1h"))
        status, _ = http(port, "/reload", "POST", "", token=None)
        check(status == 401, f"POST /reload without the token: {status}")
        rc, r, err = reload(a.binary, path)
        check(rc == 0 and r and r["ok"], f"reload 1: exit {rc}, {r}, {err}")
        q = r["queries"]
        check(q["started"] == ["fresh"] and q["stopped"] == ["gone"] and q["restarted"] == []
              and sorted(q["unchanged"]) == ["keep", "uniq"] and q["refused"] == [] and q["failed"] == [],
              f"reload 1 queries: {q}")
        check(r["topicsCreated"] == ["b"], f"reload 1 topics: {r['topicsCreated']}")
        check(r["jobs"] == {"added": ["count_keep"], "removed": [], "changed": []}, f"reload 1 jobs: {r['jobs']}")

        def job_runs():
            status, body = http(port, "/jobs/runs")
            check(status == 200, f"GET /jobs/runs: {status} {body[:200]!r}")
            return [j for j in json.loads(body) if j["job"] == "count_keep"]
        wait(lambda: any(j["status"] == "succeeded" for j in job_runs()), "the added job's run_on_start run")
        check(all(j["status"] == "succeeded" for j in job_runs()), f"the added job's runs: {job_runs()}")
        after = queries(port)
        check(set(after) == {"keep", "uniq", "fresh"}, f"queries after reload 1: {sorted(after)}")
        for name in ("keep", "uniq"):
            check(after[name]["runId"] == before[name]["runId"], f"{name}'s runId changed: {before[name]} → {after[name]}")
        status, body = http(port, "/topics/b", "POST", json.dumps({"records": [{"value": {"n": i}} for i in range(5)]}))
        check(status == 200, f"produce to the new topic: {status} {body[:200]!r}")
        wait(lambda: queries(port)["fresh"]["outputRows"] >= 5, "the new query's commit of the new topic's 5 records")

        # 2. An invalid file changes nothing and says where.
        good = open(path).read()
        with open(path, "w") as f:
            f.write(good.replace("    max_records_per_trigger: 200000\n", "    max_records_per_trigger: 200000\n    shardz: 2\n", 1))
        where = r"pipeline\.yaml:\d+:\d+: .*unknown key 'shardz' \(did you mean 'shards'\?\)"
        rc, r, err = reload(a.binary, path)  # the CLI reads the file first
        check(rc == 2 and r is None and re.search(where, err), f"reload of a bad file: exit {rc}, {r}, {err}")
        status, body = http(port, "/reload", "POST", "")  # the daemon reads it itself
        answer = json.loads(body) if body else {}
        check(status == 400 and answer.get("ok") is False and re.search(where, answer.get("error", "")),
              f"POST /reload of a bad file: {status} {body[:300]!r}")
        now = queries(port)
        check({n: q["runId"] for n, q in now.items()} == {n: q["runId"] for n, q in after.items()},
              f"the bad file changed the queries: {after} → {now}")

        # 3. uniq's dedup keys change (refused: its state would be misread); keep's batch cap changes
        # (restarted from its checkpoint).
        with open(path, "w") as f:
            f.write(config(work, port, topics="[a, b]", extra_sources=ADDED_SOURCE, extra_queries=ADDED,
                           keep_cap=100000, dedup_keys="[n, m]", job_every="2h"))
        uniq_batches = now["uniq"]["batchesCommitted"]
        rc, r, err = reload(a.binary, path)
        check(rc == 1 and r and r["ok"], f"reload 3: exit {rc}, {r}, {err}")
        q = r["queries"]
        check(q["restarted"] == ["keep"] and sorted(q["unchanged"]) == ["fresh"] and q["failed"] == [],
              f"reload 3 queries: {q}")
        check(len(q["refused"]) == 1 and q["refused"][0]["query"] == "uniq"
              and "stateful operators changed" in q["refused"][0]["reason"], f"reload 3 refusal: {q['refused']}")
        check(r["jobs"] == {"added": [], "removed": [], "changed": ["count_keep"]}, f"reload 3 jobs: {r['jobs']}")
        status, body = http(port, "/jobs")
        check(status == 200 and [(j["name"], j["schedule"]) for j in json.loads(body)] == [("count_keep", "every 2h")],
              f"GET /jobs after reload 3: {status} {body[:300]!r}")
        later = queries(port)
        check(later["uniq"]["runId"] == now["uniq"]["runId"], "the refused query was restarted")
        check(later["keep"]["runId"] != now["keep"]["runId"], "the changed query kept its runId")
        wait(lambda: queries(port)["uniq"]["batchesCommitted"] > uniq_batches, "the refused query to keep committing")

        # 4. The job removed. The http settings apply at once. A second token: the client switches to it.
        later_config = dict(topics="[a, b]", extra_sources=ADDED_SOURCE, extra_queries=ADDED, keep_cap=100000,
                            dedup_keys="[n, m]")
        with open(path, "w") as f:
            f.write(config(work, port, tokens=f"{TOKEN}, {NEW_TOKEN}", **later_config))
        rc, r, err = reload(a.binary, path)  # the CLI sends the file's first token, still valid
        check(rc == 0 and r and r["ok"] and r["applied"] == ["http.auth"] and r["notApplied"] == [],
              f"reload 4a: exit {rc}, {r}, {err}")
        check(r["jobs"] == {"added": [], "removed": ["count_keep"], "changed": []}, f"reload 4a jobs: {r['jobs']}")
        status, body = http(port, "/jobs")
        check(status == 200 and json.loads(body) == [], f"GET /jobs after the job's removal: {status} {body[:300]!r}")
        poster.token = NEW_TOKEN
        acked = poster.acked
        wait(lambda: poster.acked > acked + 5, "the client's posts with the new token")
        # The old token removed, a smaller record limit, and io_threads (which needs a restart).
        with open(path, "w") as f:
            f.write(config(work, port, tokens=NEW_TOKEN,
                           http_extra="  max_record_size: 1KiB\n  io_threads: 3\n", **later_config))
        rc, r, err = reload(a.binary, path)
        check(rc == 0 and r and r["ok"], f"reload 4b: exit {rc}, {r}, {err}")
        check(sorted(r["applied"]) == ["http.auth", "http.max_record_size"], f"reload 4b applied: {r['applied']}")
        check([n["what"] for n in r["notApplied"]] == ["http.io_threads"]
              and "restart" in r["notApplied"][0]["reason"], f"reload 4b notApplied: {r['notApplied']}")
        status, body = http(port, "/topics/a", "POST", json.dumps({"records": [{"value": {"n": -1}}]}))
        check(status == 401, f"the removed token right after the reload: {status} {body[:200]!r}")
        status, body = http(port, "/topics/b", "POST", json.dumps({"records": [{"value": {"n": 1, "s": "x" * 2048}}]}),
                            token=NEW_TOKEN)
        check(status == 413 and b"more than the limit of 1024 bytes" in body,
              f"a 2 KiB record after max_record_size became 1KiB: {status} {body[:200]!r}")
        status, body = http(port, "/topics/b", "POST", json.dumps({"records": [{"value": {"n": 1}}]}), token=NEW_TOKEN)
        check(status == 200, f"the new token after the reload: {status} {body[:200]!r}")
        acked = poster.acked
        wait(lambda: poster.acked > acked + 5, "the client's posts after the old token was removed")

        # 5. Nothing failed; every acknowledged record is in keep_rows exactly once.
        time.sleep(0.5)  # a little more traffic after the last reload
        poster.stop.set()
        poster.join(timeout=60)
        check(not poster.failures, f"{len(poster.failures)} produce requests failed: {poster.failures[:5]}")
        check(poster.acked > 0, "nothing was acknowledged")

        def rows():
            r = subprocess.run([a.binary, "sql", "-d", f"{work}/data", "--format", "jsonl",
                                "SELECT count(*) AS c, count(DISTINCT n) AS d FROM keep_rows"],
                               capture_output=True, text=True)
            return json.loads(r.stdout.splitlines()[0]) if r.returncode == 0 and r.stdout.strip() else {}
        wait(lambda: rows().get("c") == poster.acked, f"keep_rows to hold the {poster.acked} acknowledged records", 60)
        check(rows() == {"c": poster.acked, "d": poster.acked}, f"keep_rows: {rows()} for {poster.acked} records")
    finally:
        poster.stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        log.close()
    check(rc == 0, f"the daemon exited {rc} on SIGTERM")
    shutil.rmtree(work, ignore_errors=True)
    print(f"reload: OK ({poster.acked} records posted across 5 reloads, none failed)")


if __name__ == "__main__":
    main()
