#!/usr/bin/env python3
"""Damaged data on disk end to end (label e2e). Each case writes data through a daemon, stops it
(a second start and stop puts what the WAL held into SST files), flips one byte of an SST file
with the daemon stopped (RocksDB's block checksum no longer matches), and checks what a user sees:

1. a table chunk (storage.ingest_min_bytes: 1: each version's chunks an SST file of its own; the
   second version's is damaged). `pinstream sql`:
   - over the latest version exits non-zero with a Corruption error naming the table, the
     version, the checksum and the file, and prints none of the rows;
   - over the version before the damaged one (time travel, as the error advises) answers its rows;
   - with a WHERE the versions' statistics answer (a filtered scan): fails the same way when it
     needs the damaged version, answers the third version's rows when the statistics skip it.
2. a checkpoint entry: the latest offsets entry of query `z_damaged` (its block holds only that
   query's entries: the other query's keys sort before it). The daemon starts; `z_damaged` is
   failed with an error naming the query, the damaged entry, the checksum and the file, in
   /queries and /queries/z_damaged and in the log; /ready is 200 DEGRADED naming it; the
   other query goes on committing what is posted to its topic, and posts to the damaged query's
   topic are still acknowledged.
3. a source log batch: the second of four ~80 KB record batches of topic `a` (each a 64 KiB
   block of its own; the first and last are read when the log opens). A query added to the config
   reads the topic from its start: it is failed naming the stream, partition and offset, the
   checksum and the file, its table gets no row; the query that read the topic before the damage,
   and the other topic's, go on committing new posts; /ready names the failed query.
4. the first batch of topic `f` and the last batch of partition 0 of topic `l` (two partitions),
   each of four ~80 KB batches. The daemon starts (it refused to, its end offsets unknown): posts
   to `f` are acknowledged with the next offsets (80, 81, 82) and committed by the query that read
   `f` before the damage; a post to `l` partition 0, whose next offset the damaged last batch
   hides, is refused with HTTP 500 and the REST Proxy's error body (error_code 50002) naming the
   partition, the batch and why; `l` partition 1 takes records (offsets 5, 6), committed by the
   query reading `l`. Queries added to read both topics from their start fail naming the stream,
   partition, offset and batch, the checksum and the file (/queries, the log); /ready is 200
   DEGRADED naming both.
In cases 2, 3 and 4 the daemon exits 1 on SIGTERM (a query failed), not by a signal. In case 2 the
web console (headless Chromium, as e2e.console_chromium drives it) shows what a person watching it
sees: the `degraded` warning badge with /ready's message as its tooltip, the query's `failed` badge
and its error in the overview's row and on its own page, and no browser-console error; screenshots
go to --artifacts.
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

TABLE_CONFIG = """
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

def query_yaml(name, source, table):
    """A query parsing `source`'s records ({id, tag}) into delta table `table`."""
    return f"""  - name: {name}
    sources: [{source}]
    trigger: {{processing_time: 50ms}}
    operators:
      - {{kind: parse_json, schema: {{id: int64, tag: string}}}}
    sink: {{kind: delta, table: {table}}}
"""


def streams_config(topics, sources, queries, replay=()):
    """HTTP topics ({name: partitions}), sources ({name: topic}) and queries (name, source,
    table), with checkpoint and log blocks uncompressed (the tests find an entry by its bytes).
    `replay` queries come first."""
    return ("data_dir: ${PINSTREAM_DATA_DIR}\nstorage: {compression: none}\nhttp:\n"
            "  listen: ${PINSTREAM_LISTEN}\n  topics: ["
            + ", ".join(f"{{name: {t}, partitions: {n}}}" for t, n in topics.items()) + "]\nsources:\n"
            + "".join(f"  {name}: {{kind: http, topic: {t}}}\n" for name, t in sources.items()) + "queries:\n"
            + "".join(query_yaml(*q) for q in list(replay) + list(queries)))


def write_configs(work, spec, replay):
    """The paths of `spec`'s config and of the same with the `replay` queries added, written."""
    paths = os.path.join(work, "config.yaml"), os.path.join(work, "with-replay.yaml")
    for path, text in zip(paths, (streams_config(*spec), streams_config(*spec, replay))):
        with open(path, "w") as f:
            f.write(text)
    return paths


# Topics a (damaged) and b, a query on each; `replay` (the source-log case's second config) reads
# topic a from its start.
STREAMS = ({"a": 1, "b": 1}, {"dmg": "a", "other": "b"}, [("z_damaged", "dmg", "ta"), ("a_other", "other", "tb")])
REPLAY = [("replay", "dmg", "tr")]
# Topic f (its first batch damaged) and l (the last batch of partition 0 damaged), a query on each;
# `ENDS_REPLAY` adds a query reading each from its start.
ENDS = ({"f": 1, "l": 2}, {"sf": "f", "sl": "l"}, [("qf", "sf", "tf"), ("ql", "sl", "tl")])
ENDS_REPLAY = [("rf", "sf", "trf"), ("rl", "sl", "trl")]


def sql(binary, data_dir, statement):
    return subprocess.run([binary, "sql", "-d", data_dir, "--format", "jsonl", statement],
                          capture_output=True, text=True)


def count(binary, data_dir, table):
    rows = e2e_util.sql_rows(binary, data_dir, f"SELECT count(*) AS n FROM {table}")
    return rows[0]["n"] if rows else 0


def sst_family(data):
    """The column family an SST file's properties name ("" for a file written apart from any, as
    the ingested chunk files are). The properties block shares key prefixes: "...family.id" is
    followed by the id, then "name" after varints (shared, unshared, value length)."""
    i = data.find(b"column.family.id")
    j = data.find(b"name", i) if i >= 0 else -1
    return None if j < 0 else data[j + 4:j + 4 + data[j - 1]].decode(errors="replace")


def flip_in_sst(data_dir, needle, family):
    """Flips a byte in the middle of `needle` in the SST file of a family `family` accepts; the
    file's name (None when no such file holds it)."""
    for name in sorted(os.listdir(data_dir)):
        if not name.endswith(".sst"):
            continue
        path = os.path.join(data_dir, name)
        data = open(path, "rb").read()
        at = data.find(needle)
        if at < 0 or not family(sst_family(data)):
            continue
        with open(path, "r+b") as f:
            f.seek(at + len(needle) // 2)
            f.write(bytes([data[at + len(needle) // 2] ^ 0x20]))
        return name
    return None


class Poster:
    def __init__(self, d):
        self.c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)

    def send(self, topic, values, partition=None):
        """(HTTP status, parsed body)."""
        recs = [{"value": v} if partition is None else {"value": v, "partition": partition} for v in values]
        self.c.request("POST", f"/topics/{topic}", json.dumps({"records": recs}),
                       {"Content-Type": "application/vnd.kafka.json.v2+json"})
        r = self.c.getresponse()
        return r.status, json.loads(r.read() or b"{}")

    def post(self, topic, values, partition=None):
        status, body = self.send(topic, values, partition)
        check(status == 200, f"POST /topics/{topic}: HTTP {status} {body}")
        return body


def stop(d, want_rc):
    d.stop()
    check(d.p.returncode == want_rc, f"the daemon exited {d.p.returncode} on SIGTERM, not {want_rc}")


def restart_to_flush(binary, work, config):
    """A start and stop: the store's open writes what the WAL held into SST files."""
    d = Daemon(binary, work, config, "d", "")
    try:
        stop(d, 0)
    finally:
        d.kill()


def table_chunk_case(binary):
    work = e2e_util.work_dir = tempfile.mkdtemp(prefix="pinstream-corrupt-")
    config = os.path.join(work, "corrupt.yaml")
    with open(config, "w") as f:
        f.write(TABLE_CONFIG)
    data_dir = f"{work}/d-data"
    d = Daemon(binary, work, config, "d", "")
    try:
        p = Poster(d)
        for n, tag in enumerate(["first", "second", "third"]):
            p.post("c", [{"id": n * 50 + i, "tag": f"{tag}-batch-row-{i}"} for i in range(50)])
            wait(lambda: count(binary, data_dir, "tagged") == (n + 1) * 50, f"{(n + 1) * 50} rows in 'tagged'")
        stop(d, 0)
    finally:
        d.kill()
    intact = sql(binary, data_dir, "SELECT tag FROM tagged")
    check(intact.returncode == 0 and len(intact.stdout.splitlines()) == 150,
          f"before the damage: exit {intact.returncode}, {len(intact.stdout.splitlines())} rows")
    damaged = flip_in_sst(data_dir, b"second-batch-row-17", lambda f: f in ("", "tables"))
    check(damaged, "no SST file of the tables family holds the second batch's rows")
    r = sql(binary, data_dir, "SELECT tag FROM tagged")
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
    before = sql(binary, data_dir, f"SELECT tag FROM tagged_at({v - 1})")
    check(before.returncode == 0, f"time travel to version {v - 1} failed: {before.stderr[:300]}")
    tags = [json.loads(line)["tag"] for line in before.stdout.splitlines() if line.strip()]
    check(tags and all(t.startswith("first-batch") for t in tags),
          f"version {v - 1}: {len(tags)} rows, e.g. {tags[:3]}")
    # A WHERE the versions' statistics answer (a filtered scan) fails the same way when it needs
    # the damaged version, and reads on when the statistics skip it (ids 100.. are version 2's).
    r = sql(binary, data_dir, "SELECT tag FROM tagged WHERE id >= 0")
    check(r.returncode != 0 and not r.stdout.strip() and f"table 'tagged' version {v}" in r.stderr
          and "Corruption" in r.stderr,
          f"WHERE id >= 0: exit {r.returncode}, {len(r.stdout.splitlines())} rows, {r.stderr[:400]}")
    r = sql(binary, data_dir, "SELECT tag FROM tagged WHERE id >= 100")
    third = [json.loads(line)["tag"] for line in r.stdout.splitlines() if line.strip()]
    check(r.returncode == 0 and len(third) == 50 and all(t.startswith("third-batch") for t in third),
          f"WHERE id >= 100: exit {r.returncode}, {len(third)} rows, {r.stderr[:300]}")
    r = sql(binary, data_dir, f"SELECT tag FROM tagged_at({v - 1}) WHERE id >= 0")
    check(r.returncode == 0 and len(r.stdout.splitlines()) == 50,
          f"tagged_at({v - 1}) WHERE id >= 0: exit {r.returncode}, {len(r.stdout.splitlines())} rows")
    print(f"table chunk: OK: the damaged version {v} fails naming it, also with a WHERE; version "
          f"{v - 1} reads {len(tags)} rows; a WHERE that skips version {v} reads version {v + 1}")
    shutil.rmtree(work, ignore_errors=True)


def failed_query(d, name, must_name):
    """Checks that query `name` is failed in /queries, /queries/NAME and /ready, its error naming
    everything in `must_name`; the error."""
    q = d.json(f"/queries/{name}")
    check(q["state"] == "failed", f"/queries/{name}: state {q['state']}, error {q['error']}")
    err = q["error"] or ""
    missing = [s for s in must_name if s not in err]
    check(not missing, f"/queries/{name}: the error does not name {missing}: {err}")
    listed = [x for x in d.json("/queries") if x["name"] == name]
    check(listed and listed[0]["state"] == "failed" and listed[0]["error"] == err,
          f"/queries lists {name} as {listed}")
    code, body = d.request("/ready")
    ready = json.loads(body or b"{}")
    check(code == 200 and ready.get("status") == "DEGRADED"
          and [x["name"] for x in ready.get("queries", [])] == [name]
          and f"query '{name}' failed" in ready.get("message", ""),
          f"/ready: {code} {body[:400]!r}")
    return err


def keeps_running(binary, d, p, data_dir, topic, table, base, n):
    """Posts `n` records to `topic`; the query writing `table` (`base` rows before) commits them."""
    p.post(topic, [{"id": 1000 + i, "tag": f"after-damage-{i}"} for i in range(n)])
    wait(lambda: count(binary, data_dir, table) == base + n, f"{base + n} rows in '{table}' after the damage")


def console_shows_failed(d, work, name, artifacts):
    """The console's overview and query page show query `name` failed and the daemon degraded."""
    b = e2e_util.Browser(work)
    try:
        base = f"http://127.0.0.1:{d.port}/"
        b.go(base)
        b.wait_js("document.querySelector('#ready .badge.warn') && "
                  "document.querySelector('#ready .badge').textContent === 'degraded'",
                  "the console's degraded badge")
        tip = b.js("return document.getElementById('ready').title;")
        check(f"query '{name}' failed" in tip, f"the badge's tooltip does not name {name}: {tip}")
        row = f"tr[data-query='{name}']"
        b.wait_js(f"document.querySelector(\"{row} [data-k=state] .badge.bad\")", f"{name}'s failed badge")
        error = b.js(f"return document.querySelector(\"{row} [data-k=Error]\").dataset.v;")
        check("checkpoint entry" in error and "checksum" in error, f"the overview's error cell for {name}: {error}")
        if artifacts:
            os.makedirs(artifacts, exist_ok=True)
            b.screenshot(os.path.join(artifacts, "degraded-overview.png"))
        b.go(base + f"#/query/{name}")
        b.wait_js("[...document.querySelectorAll('p.bad-text')].some((p) => p.textContent.includes('checkpoint entry'))",
                  f"{name}'s page showing its error")
        if artifacts:
            b.screenshot(os.path.join(artifacts, "degraded-query.png"))
        errors = [e for e in b.log() if e.get("level") == "SEVERE"]
        check(not errors, f"browser console errors: {errors}")
    finally:
        b.quit()


def checkpoint_case(binary, artifacts):
    work = e2e_util.work_dir = tempfile.mkdtemp(prefix="pinstream-corrupt-cp-")
    config = os.path.join(work, "streams.yaml")
    with open(config, "w") as f:
        f.write(streams_config(*STREAMS))
    data_dir = f"{work}/d-data"
    batches = 12  # z_damaged's entries (commit entries of ~1.4 KB) fill more than one 16 KiB block
    d = Daemon(binary, work, config, "d", "")
    try:
        p = Poster(d)
        for n in range(batches):
            p.post("a", [{"id": n * 10 + i, "tag": f"a-{n}-{i}"} for i in range(10)])
            p.post("b", [{"id": n * 10 + i, "tag": f"b-{n}-{i}"} for i in range(10)])
            wait(lambda: count(binary, data_dir, "ta") == (n + 1) * 10 and count(binary, data_dir, "tb") == (n + 1) * 10,
                 f"batch {n} committed by both queries")
        stop(d, 0)
    finally:
        d.kill()
    restart_to_flush(binary, work, config)
    # The latest offsets entry of z_damaged: its source's end offset.
    damaged = flip_in_sst(data_dir, f'"dmg":{{"0":{batches * 10}}}'.encode(), lambda f: f == "checkpoint")
    check(damaged, "no SST file of the checkpoint family holds z_damaged's latest offsets entry")
    d = Daemon(binary, work, config, "d", "")
    try:
        err = failed_query(d, "z_damaged", ["query 'z_damaged'", "checkpoint entry", "is damaged", "checksum",
                                            damaged, "pinstream checkpoint"])
        print(f"checkpoint entry: damaged {damaged}; z_damaged: {err[:300]}")
        log = open(f"{work}/log.txt", errors="replace").read()
        check(re.search(r"error\s+query failed query=z_damaged error=.*checkpoint entry", log),
              "no log line says z_damaged failed on its checkpoint entry")
        console_shows_failed(d, work, "z_damaged", artifacts)
        p = Poster(d)
        keeps_running(binary, d, p, data_dir, "b", "tb", batches * 10, 7)
        p.post("a", [{"id": 5000, "tag": "acknowledged-for-later"}])
        check(count(binary, data_dir, "ta") == batches * 10, "z_damaged's table changed")
        check(d.json("/queries/a_other")["state"] in ("idle", "active"), "a_other stopped")
        stop(d, 1)
    finally:
        d.kill()
    print("checkpoint entry: OK: z_damaged failed naming the entry; a_other committed 7 more rows")
    shutil.rmtree(work, ignore_errors=True)


def source_log_case(binary):
    work = e2e_util.work_dir = tempfile.mkdtemp(prefix="pinstream-corrupt-log-")
    config, with_replay = write_configs(work, STREAMS, REPLAY)
    data_dir = f"{work}/d-data"
    d = Daemon(binary, work, config, "d", "")
    try:
        p = Poster(d)
        # Four batches of ~80 KB: each record batch a 64 KiB block of the log of its own.
        for n, tag in enumerate(["first", "second", "third", "fourth"]):
            p.post("a", [{"id": n * 20 + i, "tag": f"{tag}-log-row-{i}", "pad": "x" * 4000} for i in range(20)])
        p.post("b", [{"id": i, "tag": f"b-{i}"} for i in range(5)])
        wait(lambda: count(binary, data_dir, "ta") == 80 and count(binary, data_dir, "tb") == 5, "80 + 5 rows")
        stop(d, 0)
    finally:
        d.kill()
    restart_to_flush(binary, work, config)
    damaged = flip_in_sst(data_dir, b"second-log-row-11", lambda f: f.startswith("log/"))
    check(damaged, "no SST file of the source log holds the second batch's records")
    d = Daemon(binary, work, with_replay, "d", "")
    try:
        wait(lambda: d.json("/queries/replay")["state"] == "failed", "query 'replay' to fail on the damaged batch")
        err = failed_query(d, "replay", ["'a' partition 0 offset 20", "checksum", damaged])
        print(f"source log: damaged {damaged}; replay: {err[:300]}")
        log = open(f"{work}/log.txt", errors="replace").read()
        check(re.search(r"error\s+query failed query=replay .*'a' partition 0 offset 20", log),
              "no log line says replay failed on the damaged batch")
        check(count(binary, data_dir, "tr") == 0, "rows of a batch that read the damaged block were committed")
        p = Poster(d)
        keeps_running(binary, d, p, data_dir, "a", "ta", 80, 3)  # the topic's end is intact
        keeps_running(binary, d, p, data_dir, "b", "tb", 5, 4)
        check(count(binary, data_dir, "tr") == 0, "replay committed rows")
        stop(d, 1)
    finally:
        d.kill()
    print("source log: OK: replay failed naming 'a' partition 0 offset 20; z_damaged and a_other went on")
    shutil.rmtree(work, ignore_errors=True)


def log_ends_case(binary):
    work = e2e_util.work_dir = tempfile.mkdtemp(prefix="pinstream-corrupt-ends-")
    config, with_replay = write_configs(work, ENDS, ENDS_REPLAY)
    data_dir = f"{work}/d-data"
    d = Daemon(binary, work, config, "d", "")
    try:
        p = Poster(d)
        # Four batches of ~80 KB per topic: each record batch a 64 KiB block of its own.
        for n, tag in enumerate(["first", "second", "third", "fourth"]):
            for topic in ("f", "l"):
                p.post(topic, [{"id": n * 20 + i, "tag": f"{topic}-{tag}-row-{i}", "pad": "x" * 4000}
                               for i in range(20)], partition=0)
        p.post("l", [{"id": 500 + i, "tag": f"l-p1-{i}"} for i in range(5)], partition=1)
        wait(lambda: count(binary, data_dir, "tf") == 80 and count(binary, data_dir, "tl") == 85, "80 + 85 rows")
        stop(d, 0)
    finally:
        d.kill()
    restart_to_flush(binary, work, config)
    first = flip_in_sst(data_dir, b"f-first-row-11", lambda f: f.startswith("log/"))
    last = flip_in_sst(data_dir, b"l-fourth-row-11", lambda f: f.startswith("log/"))
    check(first and last, f"no SST file of the source log holds the batches to damage: {first}, {last}")
    d = Daemon(binary, work, with_replay, "d", "")  # it refused to start before
    try:
        p = Poster(d)
        # `f`: the next offsets, committed by the query that read the topic before the damage.
        body = p.post("f", [{"id": 1000 + i, "tag": f"after-damage-{i}"} for i in range(3)])
        check([o["offset"] for o in body["offsets"]] == [80, 81, 82], f"offsets after a damaged first batch: {body}")
        wait(lambda: count(binary, data_dir, "tf") == 83, "83 rows in 'tf' after the damage")
        # `l` partition 0: its next offset is unknown; refused with the REST Proxy's error body.
        status, body = p.send("l", [{"id": 2000, "tag": "refused"}], partition=0)
        print(f"log ends: damaged {first} and {last}; POST /topics/l partition 0: {status} {json.dumps(body)[:400]}")
        check(status == 500 and body.get("error_code") == 50002
              and "'l' partition 0: its last record batch (offset 60) is damaged" in body.get("message", "")
              and "appends to it are refused" in body["message"],
              f"an append to the partition with a damaged last batch: {status} {body}")
        body = p.post("l", [{"id": 3000 + i, "tag": f"p1-after-{i}"} for i in range(2)], partition=1)
        check([o["offset"] for o in body["offsets"]] == [5, 6], f"offsets of the intact partition: {body}")
        wait(lambda: count(binary, data_dir, "tl") == 87, "87 rows in 'tl' after the damage")
        # Reading the damaged batches fails the queries that read them, naming them.
        for q in ("rf", "rl"):
            wait(lambda: d.json(f"/queries/{q}")["state"] == "failed", f"query '{q}' to fail on the damaged batch")
        errors = {}
        for q, names in (("rf", ["'f' partition 0 offset 0", "offset 0", first]),
                         ("rl", ["'l' partition 0 offset 60", "offset 60", last])):
            err = d.json(f"/queries/{q}")["error"] or ""
            missing = [x for x in names + ["checksum", "damaged file holds the batch"] if x not in err]
            check(not missing, f"/queries/{q}: the error does not name {missing}: {err}")
            listed = [x for x in d.json("/queries") if x["name"] == q]
            check(listed and listed[0]["state"] == "failed" and listed[0]["error"] == err, f"/queries lists {listed}")
            errors[q] = err
        print(f"log ends: rf: {errors['rf'][:200]}; rl: {errors['rl'][:200]}")
        code, body = d.request("/ready")
        ready = json.loads(body or b"{}")
        check(code == 200 and ready.get("status") == "DEGRADED"
              and sorted(x["name"] for x in ready.get("queries", [])) == ["rf", "rl"],
              f"/ready: {code} {body[:400]!r}")
        log = open(f"{work}/log.txt", errors="replace").read()
        check(re.search(r"error\s+query failed query=rl .*'l' partition 0 offset 60", log),
              "no log line says rl failed on the damaged batch")
        check("'l' partition 0: its last record batch (offset 60) is damaged" in log,
              "no log line says appends to 'l' partition 0 are refused")
        check(count(binary, data_dir, "trf") == 0 and count(binary, data_dir, "trl") == 0,
              "rows of a batch that read a damaged block were committed")
        check(all(d.json(f"/queries/{q}")["state"] in ("idle", "active") for q in ("qf", "ql")), "qf or ql stopped")
        stop(d, 1)
    finally:
        d.kill()
    print("log ends: OK: the daemon started; 'f' took offsets 80..82, 'l' partition 0 refused appends "
          "(500, 50002), partition 1 took 5..6; rf and rl failed naming the damaged batches")
    shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--case", choices=["table", "checkpoint", "log", "ends"], action="append")
    ap.add_argument("--artifacts", help="where the console's screenshots go")
    a = ap.parse_args()
    cases = {"table": lambda: table_chunk_case(a.binary), "checkpoint": lambda: checkpoint_case(a.binary, a.artifacts),
             "log": lambda: source_log_case(a.binary), "ends": lambda: log_ends_case(a.binary)}
    for name in a.case or list(cases):
        cases[name]()


if __name__ == "__main__":
    main()
