#!/usr/bin/env python3
"""The live views' contract (label e2e): at every committed version V of a view's table, its rows
equal `pinstream sql` running the view's SQL over the input tables AS OF the input versions V
consumed — each table T read as `T_at(v)`, v being V's `inputVersion.T` (its commit info's
operationMetrics, `pinstream history --json`).

conf/pinterest.yaml with its views: section replaced by — conf/queries/q1.sql … q8.sql and SQL written for this test:
the eight shipped queries (joins, top-N ranks, medians, a scalar subquery), filter and project, GROUP BY with count / count(DISTINCT) / sum / min / max / avg / median and
HAVING, DISTINCT over an aggregate and an aggregate over an aggregate (retractions inside the
graph), sliding windows (HOP, checked against the same query with the windows computed by
arithmetic: the batch SQL has no window functions), a global aggregate with FILTER and percentile_approx, and a view reading another view's
table (retractions arriving from a changes commit). Random posts in random batch sizes go
through the Kafka REST Proxy API (`pinstream emulate`, random seeds, counts and records per
request); between rounds the daemon is sometimes killed with SIGKILL — right after a round's
posts were acknowledged, while the views are catching up — and restarted. After every round,
once every view has consumed its inputs' latest versions, every new version is checked:

- the contract above (rows as a multiset, doubles to 9 significant digits);
- history without gap or duplicate: versions 0..N, each from a later batch of the view's query
  than the one before (txn), input versions never going back, no version equal to the one
  before it (a version only for a batch that changes the answer);
- at the end each view's latest version consumed the latest version of its inputs, and each of
  its stateful operators holding rows reports state bytes > 0 (/queries/<v>/state).

The random choices come from --seed (default fixed), so a failure replays.
"""
import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402
from e2e_util import Daemon, check, fail, wait  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONF = os.path.join(ROOT, "conf")
DATA = os.path.join(ROOT, "tests", "data", "pinterest")

# The SQL written for the test: each lowered construct at least once.
TEST_VIEWS = {
    "t_filter": """
SELECT ind, category, follower_count * 2 AS double_followers, lower(poster_name) AS poster
FROM pin
WHERE follower_count > 5000 AND category IN ('art', 'travel', 'quotes', 'diy-and-crafts')
""",
    "t_group": """
SELECT category, count(*) AS posts, count(DISTINCT poster_name) AS posters,
       sum(follower_count) AS followers, min(follower_count) AS min_f, max(follower_count) AS max_f,
       avg(follower_count) AS avg_f, median(follower_count) AS median_f
FROM pin
GROUP BY category
HAVING count(*) >= 2
""",
    # DISTINCT and an aggregate over an aggregate: a category's count moving retracts its row.
    "t_distinct": """
SELECT DISTINCT posts FROM (SELECT category, count(*) AS posts FROM pin GROUP BY category) c
""",
    "t_retract": """
SELECT posts, count(*) AS categories
FROM (SELECT category, count(*) AS posts FROM pin GROUP BY category) c
GROUP BY posts
""",
    "t_global": """
SELECT count(*) AS users, max(age) AS oldest, percentile_approx(age, 0.9) AS p90,
       count(*) FILTER (WHERE age < 30) AS young, sum(age) AS total_age
FROM user
""",
    # Sliding windows (HOP): each post counted in the three 3-day windows, starting every day,
    # that hold its time; with a LEFT JOIN under them.
    "t_window": """
SELECT h.country, window_start, window_end, count(*) AS posts, count(p.ind) AS pins
FROM HOP(geo, timestamp, INTERVAL '1' DAY, INTERVAL '3' DAY) h LEFT JOIN pin p ON h.ind = p.ind
GROUP BY h.country, window_start, window_end
""",
    # Reads q6_live's table: its changes commits arrive as retractions.
    "t_chain": """
SELECT post_year, number_users_joined FROM q6_live WHERE number_users_joined >= 10
""",
}
# The batch SQL (SQLite) has no window functions: a windowed view's answer is checked against
# the same query with each row's windows computed by arithmetic (window starts at multiples of
# the slide: floor(t / slide) * slide - j * slide, j < size / slide; the times are after 1970).
DAY_US = 86400 * 10**6
BATCH_SQL = {
    "t_window": f"""
SELECT h.country, h.window_start, h.window_end, count(*) AS posts, count(p.ind) AS pins
FROM (SELECT g.*, to_timestamp((unix_micros(g.timestamp) / {DAY_US} - k.j) * {DAY_US})
                  AS window_start,
             to_timestamp((unix_micros(g.timestamp) / {DAY_US} - k.j) * {DAY_US} + 3 * {DAY_US})
                  AS window_end
      FROM geo g, (SELECT 0 AS j UNION ALL SELECT 1 UNION ALL SELECT 2) k
      WHERE g.timestamp IS NOT NULL) h
LEFT JOIN pin p ON h.ind = p.ind
GROUP BY h.country, h.window_start, h.window_end
""",
}
# The shipped analysis queries as views (q3's two statements: q3_live_a and q3_live_b).
SHIPPED_VIEWS = {f"q{i}_live": f"queries/q{i}.sql" for i in range(1, 9)}
KEYWORDS = {"where", "group", "order", "join", "left", "inner", "right", "full", "cross", "on",
            "using", "limit", "union", "having", "window", "natural", "except", "intersect"}


def at_versions(sql, versions):
    """`sql` with each input table T read as T_at(v) (keeping its alias, or aliased as T)."""
    def repl(m):
        table = m.group(2)
        if table.lower() not in versions:
            return m.group(0)
        rest = sql[m.end():]
        nxt = re.match(r"\s+(?:AS\s+)?(\w+)", rest, re.I)
        aliased = nxt is not None and nxt.group(1).lower() not in KEYWORDS
        text = f"{m.group(1)} {table}_at({versions[table.lower()]})"
        return text if aliased else f"{text} AS {table}"
    return re.sub(r"\b(FROM|JOIN)\s+(\w+)\b", repl, sql, flags=re.I)


TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z?$")


def norm(value):
    if isinstance(value, float):
        if value == 0 or math.isnan(value) or math.isinf(value):
            return value
        return float(f"{value:.9g}")
    if isinstance(value, str):
        # A timestamp column prints as 2018-10-11T00:00:00.000Z, the batch SQL's to_timestamp()
        # (BATCH_SQL's window bounds) as text 2018-10-11 00:00:00: the same instant.
        m = TIMESTAMP.match(value)
        if m:
            return f"{m.group(1)} {m.group(2)}.{(m.group(3) or '').ljust(6, '0')}"
    return value


def canon(rows):
    return sorted(json.dumps({k: norm(v) for k, v in r.items()}, sort_keys=True) for r in rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--seed", type=int, default=27)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--shipped", default=",".join(SHIPPED_VIEWS),
                    help="the shipped views to run (default all eight)")
    a = ap.parse_args()
    shipped = {v: SHIPPED_VIEWS[v] for v in a.shipped.split(",") if v}
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="pinstream-views-")
    e2e_util.work_dir = work
    os.symlink(os.path.join(CONF, "queries"), os.path.join(work, "queries"))
    config = os.path.join(work, "views.yaml")
    with open(os.path.join(CONF, "pinterest.yaml")) as f:
        text = e2e_util.without_views(f.read()) + "\nviews:\n"
    for name, path in shipped.items():
        text += f"  - {{name: {name}, sql: {path}}}\n"
    for name, sql in TEST_VIEWS.items():
        with open(os.path.join(work, name + ".sql"), "w") as f:
            f.write(sql.strip() + "\n")
        text += f"  - {{name: {name}, sql: {name}.sql}}\n"
    with open(config, "w") as f:
        f.write(text)
    data_dir = f"{work}/views-data"

    def cli(*args):
        r = subprocess.run([a.binary, *args], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            fail(f"pinstream {' '.join(args)[:300]}: exit {r.returncode}: {r.stderr[-800:]}")
        return r.stdout

    def sql_many(statements):
        """Runs the statements in one `pinstream sql` call; a list of row lists."""
        script = ""
        for i, s in enumerate(statements):
            script += f"SELECT {i} AS _result_mark;\n{s.strip().rstrip(';')};\n"
        path = os.path.join(work, "check.sql")
        with open(path, "w") as f:
            f.write(script)
        out = cli("sql", "-d", data_dir, "--format", "jsonl", "-f", path)
        results = []
        for line in out.splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if list(row.keys()) == ["_result_mark"]:
                results.append([])
            else:
                results[-1].append(row)
        check(len(results) == len(statements), f"{len(results)} results for {len(statements)}")
        return results

    def history(table):
        out = cli("history", "-d", data_dir, table, "--json")
        return sorted((json.loads(l) for l in out.splitlines() if l.strip()),
                      key=lambda c: c["version"])

    # Each view table's statement, as the daemon runs it.
    view_sql = {}
    for line in cli("views", "list", "-c", config, "--format", "jsonl").splitlines():
        j = json.loads(line)
        view_sql[j["table"]] = j["sql"]
    check(len(view_sql) >= len(shipped) + len(TEST_VIEWS), f"views: {sorted(view_sql)}")

    checked = {v: -1 for v in view_sql}  # the last version checked
    last = {v: None for v in view_sql}  # (txn batch, input versions, rows) of that version
    total_checked = 0

    def table_version(d, table):
        code, body = d.request(f"/tables/{table}")
        if code != 200:
            return -1
        return json.loads(body).get("version", -1)

    def caught_up(d):
        """Every cleaning query has read what was acknowledged, every view its inputs' latest."""
        for q in ("pin", "geo", "user"):
            code, body = d.request(f"/queries/{q}")
            if code != 200:
                return False
            s = json.loads(body)
            if s["state"] not in ("idle", "active") or s["backlogRecords"] != 0:
                return False
        for v in view_sql:
            # The view's last committed batch's end offsets: (version << 32) | row per table.
            code, body = d.request(f"/queries/{v}/state")
            if code != 200:
                return False
            consumed = {}
            for parts in json.loads(body)["committedOffsets"].values():
                for table, end in parts.items():
                    consumed[table] = int(end) >> 32
            for table in inputs_of(v):
                latest = table_version(d, table)
                if latest >= 0 and consumed.get(table, 0) != latest + 1:
                    return False
        return True

    input_tables = {}

    def inputs_of(v):
        if v not in input_tables:
            tables = set()
            # A table in FROM / JOIN, or the first argument of TUMBLE( / HOP(.
            named = r"\b(?:(?:FROM|JOIN)\s+(?!(?:TUMBLE|HOP)\s*\()|(?:TUMBLE|HOP)\s*\(\s*)(\w+)"
            for m in re.finditer(named, view_sql[v], re.I):
                if m.group(1).lower() in ("pin", "geo", "user") or m.group(1) in view_sql:
                    tables.add(m.group(1).lower())
            input_tables[v] = tables
        return input_tables[v]

    def check_views(what):
        nonlocal total_checked
        for v in view_sql:
            commits = history(v)
            versions = [c["version"] for c in commits]
            check(versions == list(range(len(versions))), f"{v}: versions {versions} have a gap")
            new = [c for c in commits if c["version"] > checked[v]]
            if not new:
                continue
            statements = []
            for c in new:
                ins = {k.split(".", 1)[1]: val for k, val in c.get("operationMetrics", {}).items()
                       if k.startswith("inputVersion.")}
                check(set(ins) == inputs_of(v),
                      f"{v} version {c['version']}: input versions {ins}, inputs {inputs_of(v)}")
                statements.append(f"SELECT * FROM {v}_at({c['version']})")
                statements.append(at_versions(BATCH_SQL.get(v, view_sql[v]), ins))
                c["_inputs"] = ins
            results = sql_many(statements)
            for i, c in enumerate(new):
                got, want = results[2 * i], results[2 * i + 1]
                if canon(got) != canon(want):
                    g, w = set(canon(got)), set(canon(want))
                    fail(f"{what}: {v} version {c['version']} (inputs {c['_inputs']}) differs from "
                         f"the batch SQL: extra {sorted(g - w)[:3]}, missing {sorted(w - g)[:3]}\n"
                         f"SQL: {statements[2 * i + 1]}")
                batch = (c["txn"]["epoch"], c["txn"]["version"])
                prev = last[v]
                if prev is not None:
                    check(batch > prev[0], f"{v} version {c['version']}: batch {batch} not after "
                                           f"{prev[0]} (a duplicate)")
                    for t, ver in c["_inputs"].items():
                        check(ver >= prev[1].get(t, -1),
                              f"{v} version {c['version']}: input {t} went back")
                    check(canon(got) != prev[2],
                          f"{v} version {c['version']}: equal to the version before it")
                last[v] = (batch, c["_inputs"], canon(got))
                checked[v] = c["version"]
                total_checked += 1

    daemons = []

    def start(name):
        d = Daemon(a.binary, work, config, name, DATA)
        daemons.append(d)
        return d

    try:
        d = start("views")
        kills = 0
        for r in range(a.rounds):
            posts = rng.randint(20, 400)
            batch = rng.choice([1, 5, 25, 100])
            seed = rng.randint(1, 10**6)
            r_out = subprocess.run(
                [a.binary, "emulate", "-u", d.base, "--user-id", "e2e", "-n", str(posts),
                 "-b", str(batch), "--seed", str(seed), "--data", DATA, "-q"],
                capture_output=True, text=True, timeout=300)
            check(r_out.returncode == 0, f"emulate failed: {r_out.stderr[-500:]}")
            if rng.random() < 0.4 or r == 1:
                # kill -9 while the views may be mid-batch; the posts were acknowledged.
                d.p.kill()
                d.p.wait()
                kills += 1
                d = start("views")
            wait(lambda: caught_up(d), f"round {r}: the views to catch up", timeout=120)
            check_views(f"round {r}")
            print(f"round {r}: {posts} posts, {batch} records per request; versions checked: "
                  + ", ".join(f"{v} {checked[v] + 1}" for v in sorted(view_sql)))
        # At the end every view's latest version reads its inputs' latest (no gap at the end):
        # a view whose answer did not change at the last batches is checked against them.
        final = {}
        for v in view_sql:
            ins = {t: table_version(d, t) for t in inputs_of(v)}
            final[v] = ins
        results = sql_many([s for v in view_sql
                            for s in (f"SELECT * FROM {v}",
                                      at_versions(BATCH_SQL.get(v, view_sql[v]), final[v]))])
        for i, v in enumerate(view_sql):
            got, want = results[2 * i], results[2 * i + 1]
            check(canon(got) == canon(want),
                  f"{v}: its latest version differs from the batch SQL over the inputs' latest")
            check(len(want) > 0, f"{v}: empty answer (the test data should give rows)")
        # Each stateful operator's state bytes are real (counted in the memtables before a flush),
        # not 0 while it holds rows.
        stateful = 0
        for v in view_sql:
            for op in d.json(f"/queries/{v}/state")["operators"]:
                if op["rows"]:
                    stateful += 1
                    check(op["bytes"] > 0, f"{v}: operator {op['stateId']} ({op['kind']}) holds "
                                           f"{op['rows']} rows in 0 bytes")
        check(stateful >= len(view_sql), f"only {stateful} stateful operators with rows")
        check(kills >= 1, "no kill -9 happened")
        for v in view_sql:
            check(checked[v] >= 1, f"{v}: only {checked[v] + 1} versions")
        print(f"views contract: {len(view_sql)} views, {total_checked} versions checked against the "
              f"batch SQL over the input versions they consumed, {kills} kill -9 restarts")
    finally:
        for x in daemons:
            x.kill()


if __name__ == "__main__":
    main()
