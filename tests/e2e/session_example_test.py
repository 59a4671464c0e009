#!/usr/bin/env python3
"""The shipped conf/examples/geo-sessions.yaml (session windows per country over the cleaned geo
table read as a stream, update mode) run by the daemon on the bundled data set: the
`geo_sessions` table it writes must equal the sessions `pinstream sql` computes in batch from the
cleaned `geo` table (gaps and islands: a country's posts sorted by time, a new session where the
next post is `gap` or more after the previous one; start = first post, end = last post + gap),
every column of every row; nothing late; progress counts each session once in `numRowsTotal`."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import Example, canon, check, differences, fail, wait  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "conf", "examples", "geo-sessions.yaml")
DATA = os.path.join(ROOT, "tests", "data", "pinterest")
GAP_US = 30 * 86400 * 1_000_000
BATCH_SESSIONS = f"""
WITH t AS (SELECT country, ind, timestamp_us AS ts FROM geo WHERE timestamp_us IS NOT NULL),
d AS (SELECT country, ind, ts, ts - lag(ts) OVER (PARTITION BY country ORDER BY ts) AS since
      FROM t),
s AS (SELECT country, ind, ts,
             sum(CASE WHEN since IS NULL OR since >= {GAP_US} THEN 1 ELSE 0 END)
               OVER (PARTITION BY country ORDER BY ts ROWS UNBOUNDED PRECEDING) AS session
      FROM d)
SELECT country, min(ts) AS start_us, max(ts) + {GAP_US} AS end_us, count(*) AS posts,
       min(ind) AS min_ind
FROM s GROUP BY country, session"""
STREAMED = ("SELECT country, window_start_us AS start_us, window_end_us AS end_us, posts, min_ind "
            "FROM geo_sessions")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    with Example(a.binary, CONFIG, DATA, ["geolocation_data.csv"], "pinstream-sessions-") as ex:
        run(ex)
    print("OK")


def run(ex):
    sql = ex.sql
    d = ex.start("sessions")
    wait(lambda: ex.count("geo") == 11154, "the cleaned geo table", 120)
    want = canon(sql(BATCH_SESSIONS))
    check(len(want) > 1000, f"the batch sessions: {len(want)} rows")
    wait(lambda: canon(sql(STREAMED)) == want, "geo_sessions to equal the batch sessions", 120)
    reports = [r for r in d.json("/queries/geo_sessions/progress") if r["numInputRows"] > 0]
    ops = reports[-1]["stateOperators"]
    check(len(ops) == 1 and ops[0]["numRowsTotal"] == len(want),
          f"numRowsTotal {ops[0]['numRowsTotal']} for {len(want)} sessions")
    d.stop()
    check(d.p.returncode == 0, f"daemon exited {d.p.returncode} on SIGTERM")
    got = canon(sql(STREAMED))
    if got != want:
        fail(f"geo_sessions ({len(got)} rows) differs from the batch sessions ({len(want)}): "
             + differences(got, want))
    late = sql("SELECT count(*) AS n FROM geo_sessions_errors")
    check(late is None or late[0]["n"] == 0, f"dead letters: {late}")
    merged = max(json.loads(r)["posts"] for r in want)
    print(f"geo_sessions = the batch sessions: {len(want)} sessions, the longest {merged} "
          f"posts; numRowsTotal {ops[0]['numRowsTotal']}")


if __name__ == "__main__":
    main()
