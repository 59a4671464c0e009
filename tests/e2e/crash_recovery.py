#!/usr/bin/env python3
"""Kill -9 recovery test (label slow): a daemon reading a growing directory of files into a
deduplicated delta table is killed at random moments, at every kill point of the micro-batch
protocol (after offsets/N, mid-batch, before commits/N, after commits/N) and at every kill point
of table maintenance (OPTIMIZE before and after its commit; VACUUM before and after its commit
and after its deletes), at least --kills times, and restarted each time. Table maintenance runs
all the time (storage.optimize with min_small_chunks 2, VACUUM keeping 1 s, both checked every
20 ms), so OPTIMIZE and VACUUM commits interleave with the query's.
A third query joins every line, read again from the files, with its key's first arrival read
from the deduplicated table as a stream (a stream-stream join: state in a StateTable); its table
must equal a recomputation from the inputs.
A fourth query counts the deduplicated table's rows per 5-minute window of their event time and
group (a tumbling window in update mode with a 3-minute watermark, read as a stream: its state in
a StateTable, windows finalized and dropped as the watermark passes them); its table must equal
the same counts computed by `pinstream sql` from the deduplicated table (without the rows its
dead-letter table holds as late).
A second query reads the table as a stream (a delta source, whose holds VACUUM must respect
across kills and restarts) into a copy. At the end every input record must be in the table and in
the copy exactly once (first arrival per key), every malformed line exactly once in the
dead-letter table, each data version must belong to a distinct
batch, and every retained version of each of the three tables must read back the rows it should: an OPTIMIZE or VACUUM
version exactly the rows of the version before it, a data version those rows plus as many new
ones as it added; a version before the oldest readable one is refused naming it. The store
ingests every table version as an SST file of its own ahead of the commit
(storage.ingest_min_bytes: 1), so a kill before the commit leaves chunks of an uncommitted
version behind, and compresses its chunks with zstd (storage.table_compression); the e2e tests
of the HTTP and Kafka pipelines cover kills with LZ4 versions written through the WAL.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

POINTS = ["after_offsets", "mid_batch", "before_commit", "after_commit",
          "optimize_before_commit", "optimize_after_commit",
          "vacuum_before_commit", "vacuum_after_commit", "vacuum_after_delete"]

CONFIG = """
data_dir: {work}/data
storage:  # every version an ingested SST, zstd chunks, OPTIMIZE and VACUUM all the time
  ingest_min_bytes: 1
  table_compression: zstd
  optimize: {{min_small_chunks: 2}}
  vacuum: {{retain: 1s, interval: 20ms}}
  maintenance_interval: 20ms
sources:
  events: {{kind: file, path: "{work}/in"}}
  events_stream: {{kind: delta, table: events}}
  raw_lines: {{kind: file, path: "{work}/in"}}
  events_table: {{kind: delta, table: events}}
  events_windowed: {{kind: delta, table: events}}
queries:
  - name: events
    source: events
    trigger: continuous
    max_records_per_trigger: 40
    chunk_rows: 7
    shards: 2
    operators:
      - {{kind: parse_json, schema: {{k: string, n: int64, file: string, g: int64, ts: timestamp}}}}
      - {{kind: dedup, keys: [k]}}
    sink: {{kind: delta, table: events}}
    dead_letter: events_errors
  - name: copy  # reads events as a stream while VACUUM keeps 1 s of it: its holds keep what it reads
    source: events_stream
    trigger: continuous
    max_records_per_trigger: 30
    sink: {{kind: delta, table: events_copy}}
  # A stream-stream join (state in a StateTable): every line read again from the files, joined
  # with its key's first arrival read from the `events` table as a stream.
  - name: joined
    inputs:
      raw:
        source: raw_lines
        operators: [{{kind: parse_json, schema: {{k: string, n: int64, file: string}}}}]
      first: {{source: events_table}}
    trigger: continuous
    max_records_per_trigger: 40
    chunk_rows: 7
    shards: 2
    operators:
      - {{kind: join, left: raw, right: first, on: [k]}}
    sink: {{kind: delta, table: joined}}
    dead_letter: joined_errors
  # A windowed aggregate (state in a StateTable) over the deduplicated table read as a stream.
  - name: windowed
    source: events_windowed
    trigger: continuous
    max_records_per_trigger: 40
    shards: 2
    watermark: {{column: ts, delay: 3m}}
    operators:
      - kind: aggregate
        group_by: [g]
        window: {{column: ts, size: 5m}}
        aggregates: [{{fn: count, as: cnt}}, {{fn: sum, column: n, as: total}}, {{fn: max, column: n, as: top}}]
        output_mode: update
    sink: {{kind: delta, table: windowed}}
    dead_letter: windowed_errors
"""
WINDOW_US = 5 * 60 * 1_000_000
BASE_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z



def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--kills", type=int, default=24)
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    print(f"seed {a.seed}")
    work = tempfile.mkdtemp(prefix="pinstream-crash-")
    os.makedirs(os.path.join(work, "in"))
    config = os.path.join(work, "pipeline.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(work=work))
    log = open(os.path.join(work, "daemon.log"), "ab")

    expected = {}   # k -> (n, file): the first arrival
    lines_written = []  # (k, n, file) of every well-formed line
    bad_lines = 0
    files_written = 0
    seen_keys = []

    def write_file():
        nonlocal files_written, bad_lines
        name = f"f{files_written:04d}.jsonl"
        lines = []
        for i in range(rng.randint(5, 60)):
            if seen_keys and rng.random() < 0.2:
                k = rng.choice(seen_keys)  # a duplicate of an earlier file's key: dropped
            else:
                k = f"k{files_written}-{i}"
                seen_keys.append(k)
                expected[k] = (len(lines), name)
            lines_written.append((k, len(lines), name))
            # Event time: a minute per file, a second per line (the watermark moves on as files
            # arrive; a file read long after later ones would have late rows).
            ts = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                               time.gmtime(BASE_US // 1_000_000 + files_written * 60 + i))
            lines.append(json.dumps({"k": k, "n": len(lines), "file": name, "g": i % 3, "ts": ts}))
            if rng.random() < 0.03:
                lines.append("{broken json " + str(i))
                bad_lines += 1
        tmp = os.path.join(work, "in", "." + name)
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.rename(tmp, os.path.join(work, "in", name))
        files_written += 1

    kills = {"external": 0, **{p: 0 for p in POINTS}}
    run = 0
    while sum(kills.values()) < a.kills or files_written < a.files or any(kills[pt] == 0 for pt in POINTS):
        env = dict(os.environ)
        cycle = len(POINTS) + 1
        mode = POINTS[run % cycle] if run % cycle < len(POINTS) else "external"
        # Kill-point runs get fresh data so that a batch (and the point) is reached.
        for _ in range(rng.randint(1 if mode != "external" else 0, 3)):
            write_file()
        if mode != "external":
            env["PINSTREAM_KILL_POINTS"] = mode
            env["PINSTREAM_KILL_ODDS"] = "2" if mode != "mid_batch" else "4"
        before = os.path.getsize(os.path.join(work, "daemon.log"))
        p = subprocess.Popen([a.binary, "run", config], env=env, stdout=log, stderr=log)
        try:
            p.wait(timeout=rng.uniform(0.05, 0.4) if mode == "external" else 3)
        except subprocess.TimeoutExpired:
            p.kill()  # kill -9 at a random moment
            p.wait()
        run += 1
        if p.returncode == -signal.SIGKILL:
            with open(os.path.join(work, "daemon.log"), "rb") as f:
                f.seek(before)
                text = f.read().decode(errors="replace")
            hit = [pt for pt in POINTS if f"kill point {pt} reached" in text]
            kills[hit[0] if hit else "external"] += 1
        elif p.returncode != 0:
            fail(f"daemon exited {p.returncode} (run {run}); see {work}/daemon.log")
        if run > 400:
            fail(f"too many runs; kills so far {kills}")
    print(f"{run} runs, kills: {kills}")
    missing_points = [pt for pt in POINTS if kills[pt] == 0]
    if missing_points:
        fail(f"kill points never hit: {missing_points} (seed {a.seed})")

    # Final clean run until everything is in, then drain.
    p = subprocess.Popen([a.binary, "run", config], stdout=log, stderr=log)
    deadline = time.monotonic() + 120
    want_rows = len(expected)
    rows = []
    while time.monotonic() < deadline:
        r = subprocess.run([a.binary, "scan", "events", "--format", "jsonl", "-d", work + "/data"],
                           capture_output=True, text=True)
        rows = [json.loads(l) for l in r.stdout.splitlines() if l.strip()] if r.returncode == 0 else []
        c = subprocess.run([a.binary, "scan", "events_copy", "--format", "jsonl", "-d", work + "/data"],
                           capture_output=True, text=True)
        copied = sum(1 for l in c.stdout.splitlines() if l.strip()) if c.returncode == 0 else 0
        if len(rows) >= want_rows and copied >= want_rows:
            break
        time.sleep(0.05)
    # The join: every well-formed line with its key's first arrival, exactly once.
    want_joined = sorted((k, n, f, expected[k][0], expected[k][1]) for k, n, f in lines_written)
    joined = []
    while time.monotonic() < deadline:
        r = subprocess.run([a.binary, "scan", "joined", "--format", "jsonl", "-d", work + "/data"],
                           capture_output=True, text=True)
        joined = [json.loads(l) for l in r.stdout.splitlines() if l.strip()] if r.returncode == 0 else []
        if len(joined) >= len(want_joined):
            break
        time.sleep(0.05)
    # The windowed counts: equal to `pinstream sql`'s over the deduplicated table (less the rows
    # the aggregate sent to its dead letters as late).
    def sql(statement):
        r = subprocess.run([a.binary, "sql", "-d", work + "/data", "--format", "jsonl", statement],
                           capture_output=True, text=True)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()] if r.returncode == 0 else None

    def windowed_now():
        late = sql("SELECT reason, raw FROM windowed_errors") or []
        if any(not e["reason"].startswith("late") for e in late):
            fail(f"windowed dead letters other than late rows: {late[:3]}")
        late_keys = sorted(json.loads(e["raw"])["k"] for e in late)
        excluded = ", ".join("'" + k + "'" for k in late_keys) or "''"
        want = sql(f"SELECT g, (ts_us / {WINDOW_US}) * {WINDOW_US} AS start_us, count(*) AS cnt, "
                   f"sum(n) AS total, max(n) AS top FROM events WHERE k NOT IN ({excluded}) "
                   "GROUP BY 1, 2")
        got = sql("SELECT g, window_start_us AS start_us, cnt, total, top FROM windowed")
        canon = lambda rows: sorted(json.dumps(r, sort_keys=True) for r in (rows or []))  # noqa: E731
        return canon(got), canon(want), late_keys

    while time.monotonic() < deadline:
        got_w, want_w, late_keys = windowed_now()
        if got_w == want_w and want_w:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    if p.wait(timeout=60) != 0:
        fail("final run did not drain cleanly")
    got_w, want_w, late_keys = windowed_now()
    if not want_w or got_w != want_w:
        fail(f"the windowed table has {len(got_w)} rows, a recomputation {len(want_w)}; first "
             f"differences: {[x for x in got_w if x not in want_w][:3]} / "
             f"{[x for x in want_w if x not in got_w][:3]} (seed {a.seed}, work {work})")
    got_joined = sorted((j["k"], j["n"], j["file"], j["first_n"], j["first_file"]) for j in joined)
    if got_joined != want_joined:
        fail(f"the join's table has {len(got_joined)} rows, a recomputation {len(want_joined)}; "
             f"first differences: {[x for x in got_joined if x not in want_joined][:5]} / "
             f"{[x for x in want_joined if x not in got_joined][:5]} (seed {a.seed}, work {work})")

    got = {}
    for r in rows:
        if r["k"] in got:
            fail(f"key {r['k']} is in the table twice")
        got[r["k"]] = (r["n"], r["file"])
    if got != expected:
        missing = sorted(set(expected) - set(got))[:10]
        extra = sorted(set(got) - set(expected))[:10]
        wrong = [k for k in expected if k in got and got[k] != expected[k]][:10]
        fail(f"table has {len(got)} keys, expected {len(expected)}; missing {missing} extra {extra} "
             f"not-first-arrival {wrong} (seed {a.seed}, work {work})")
    # The stream reader of events (a delta source) never lost a version to VACUUM: its copy holds
    # every row once.
    r = subprocess.run([a.binary, "scan", "events_copy", "--format", "jsonl", "-d", work + "/data"],
                       capture_output=True, text=True)
    copy = sorted(json.loads(l)["k"] for l in r.stdout.splitlines() if l.strip()) if r.returncode == 0 else []
    if copy != sorted(got):
        fail(f"events_copy (events read as a stream) has {len(copy)} rows ({len(set(copy))} keys), "
             f"events {len(got)} (seed {a.seed}, work {work}): {r.stderr[-500:]}")
    r = subprocess.run([a.binary, "scan", "events_errors", "--format", "jsonl", "-d", work + "/data"],
                       capture_output=True, text=True)
    errors = [json.loads(l) for l in r.stdout.splitlines() if l.strip()] if r.returncode == 0 else []
    positions = [(e["partition"], e["offset"]) for e in errors]
    if len(set(positions)) != len(positions) or len(errors) != bad_lines:
        fail(f"dead-letter table has {len(errors)} rows ({len(set(positions))} distinct), expected {bad_lines}")
    h = subprocess.run([a.binary, "history", "events", "--json", "-d", work + "/data"], capture_output=True, text=True)
    commits = sorted((json.loads(l) for l in h.stdout.splitlines() if l.strip()), key=lambda c: c["version"])
    batches = [c["txn"]["version"] for c in commits if "txn" in c]
    if len(batches) != len(set(batches)):
        fail(f"a batch was committed to the table twice: {sorted(batches)}")
    # OPTIMIZE ran and committed: its kill points, after_commit included, were hit (checked
    # above). The history holds the commits the log still keeps: VACUUM keeps 1 s, so a slow run
    # (the ASan build) can end with none of them left, which is not a failure.
    optimized = sum(1 for c in commits if c["operation"] == "OPTIMIZE")
    vacuumed = sum(1 for c in commits if c["operation"] == "VACUUM")
    oldest = commits[0]["version"]
    if oldest == 0:
        fail("VACUUM never removed a version (the oldest readable one is 0)")
    r = subprocess.run([a.binary, "scan", "events", "--version", str(oldest - 1), "-d", work + "/data"],
                       capture_output=True, text=True)
    if r.returncode == 0 or f"oldest readable version is {oldest}" not in r.stderr:
        fail(f"reading version {oldest - 1}, before the oldest readable one, did not fail naming "
             f"{oldest}: {r.returncode} {r.stderr}")
    # Every retained version of every table reads back what it should (the first one: whatever
    # it holds): the dead-letter table and the copy are vacuumed and compacted like events.
    def check_versions(table, key_of, table_commits):
        prev = None
        for c in table_commits:
            r = subprocess.run([a.binary, "scan", table, "--version", str(c["version"]), "--format", "jsonl",
                                "-d", work + "/data"], capture_output=True, text=True)
            if r.returncode != 0:
                fail(f"{table} version {c['version']} is unreadable: {r.stderr}")
            keys = sorted(key_of(json.loads(l)) for l in r.stdout.splitlines() if l.strip())
            if len(keys) != len(set(keys)):
                fail(f"{table} version {c['version']} ({c['operation']}) holds a key twice")
            if prev is None:
                pass
            elif not c.get("dataChange", True):
                if keys != prev:
                    fail(f"{table} {c['operation']} version {c['version']} does not read as the version "
                         f"before it ({len(keys)} vs {len(prev)} rows)")
            elif not set(prev) <= set(keys) or len(keys) != len(prev) + c["rowsAdded"]:
                fail(f"{table} version {c['version']} reads {len(keys)} rows; the version before it had "
                     f"{len(prev)}, it added {c['rowsAdded']}")
            prev = keys

    check_versions("events", lambda row: row["k"], commits)
    for table, key_of in (("events_errors", lambda row: (row["partition"], row["offset"])),
                          ("events_copy", lambda row: row["k"])):
        h = subprocess.run([a.binary, "history", table, "--json", "-d", work + "/data"],
                           capture_output=True, text=True)
        if h.returncode != 0:
            fail(f"pinstream history {table}: {h.stderr}")
        check_versions(table, key_of,
                       sorted((json.loads(l) for l in h.stdout.splitlines() if l.strip()),
                              key=lambda c: c["version"]))
    print(f"PASS: {len(got)} rows exactly once, the join's {len(got_joined)} rows equal to a "
          f"recomputation, the windowed table's {len(got_w)} (group, window) rows equal to a "
          f"recomputation ({len(late_keys)} late rows), {bad_lines} dead letters, {len(commits)} versions "
          f"({optimized} OPTIMIZE, {vacuumed} VACUUM; oldest readable {oldest}) each read back as it should, {run + 1} runs")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
