#!/usr/bin/env python3
"""The shipped conf/examples/category-hourly.yaml (posts per pin category per hour of
geo.timestamp: the cleaned pin and geo tables read as streams, joined by `ind`, the joined table
read as a stream and counted in tumbling 1h windows in append mode) run by the daemon on the
bundled data set. `pin_geo` must equal `pinstream sql`'s batch join of the cleaned tables, and
`posts_per_category_hour` must hold, for every hour the final watermark has passed, exactly the
batch GROUP BY over that join (less the joined rows the dead-letter table holds as late, if a
batch brought rows older than an earlier one's watermark); no hour the watermark has not passed,
each hour's row once."""
import argparse
import json
import os
import sys
import time
from collections import Counter
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import Example, canon, check, differences, fail, wait  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "conf", "examples", "category-hourly.yaml")
DATA = os.path.join(ROOT, "tests", "data", "pinterest")
JOIN = "SELECT pin.ind, category, timestamp FROM pin JOIN geo USING (ind)"
HOURLY = ("SELECT category, strftime('%Y-%m-%dT%H:00:00.000Z', timestamp) AS window_start, "
          "count(*) AS posts FROM pin_geo WHERE timestamp IS NOT NULL GROUP BY 1, 2")


def hour_of(ts):
    """'2019-01-01T07:21:13.000Z' (or µs since the epoch) → '2019-01-01T07:00:00.000Z', as
    HOURLY's strftime gives window_start."""
    if isinstance(ts, int):
        ts = datetime.fromtimestamp(ts / 1e6, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return ts[:10] + "T" + ts[11:13] + ":00:00.000Z"


def micros(ts):
    return int(datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
               .timestamp()) * 1_000_000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    with Example(a.binary, CONFIG, DATA, ["pinterest_data_partial.jsonl", "geolocation_data.csv"],
                 "pinstream-category-hourly-") as ex:
        run(ex)
    print("OK")


def run(ex):
    sql, count = ex.sql, ex.count
    d = ex.start("hourly")
    wait(lambda: count("pin") == 5252 and count("geo") == 11154, "the cleaned tables", 120)
    want_join = canon(sql(JOIN))
    check(len(want_join) > 5000, f"the batch join has {len(want_join)} rows")
    wait(lambda: count("pin_geo") == len(want_join), f"pin_geo to reach {len(want_join)} rows",
         120)

    def watermark():
        """The watermark category_hourly's last batch ran with, once it has read all of
        pin_geo (None before). Once nothing moves it any more, the hours it passed are
        written (a no-data batch follows a batch that moved it)."""
        reports = d.json("/queries/category_hourly/progress")
        if not reports:
            return None
        src = reports[-1]["sources"][0]
        if src["endOffset"] != src["latestOffset"]:
            return None
        return reports[-1].get("eventTime", {}).get("watermark")

    state = {}

    def streamed_equals_batch():
        wm = watermark()
        if wm is None:
            return False
        w = micros(wm)
        late = Counter()
        for r in sql("SELECT raw FROM category_hourly_errors WHERE reason LIKE 'late%'") or []:
            row = json.loads(r["raw"])
            late[(row["category"], hour_of(row["timestamp"]))] += 1
        want = []
        for r in sql(HOURLY) or []:
            end = micros(r["window_start"]) + 3600 * 1_000_000
            n = r["posts"] - late[(r["category"], r["window_start"])]
            if end <= w and n > 0:
                want.append({"category": r["category"], "window_start": r["window_start"],
                             "posts": n})
        got = sql("SELECT category, window_start, posts FROM posts_per_category_hour") or []
        state["got"], state["want"], state["late"] = canon(got), canon(want), sum(late.values())
        return state["got"] == state["want"]

    deadline = time.monotonic() + 120
    while not streamed_equals_batch():
        if time.monotonic() > deadline:
            fail(f"posts_per_category_hour ({len(state.get('got', []))} rows) differs from "
                 f"the batch GROUP BY over the join ({len(state.get('want', []))} hours the "
                 "watermark passed): " + differences(state.get("got", []),
                                                     state.get("want", [])))
        time.sleep(0.5)
    d.stop()
    check(d.p.returncode == 0, f"daemon exited {d.p.returncode} on SIGTERM")
    got_join = canon(sql("SELECT ind, category, timestamp FROM pin_geo"))
    if got_join != want_join:
        fail(f"pin_geo ({len(got_join)} rows) differs from the batch join ({len(want_join)}): "
             + differences(got_join, want_join))
    hours = [json.loads(r) for r in state["got"]]
    check(len(hours) > 1000, f"{len(hours)} hours written")
    check(len({(h["category"], h["window_start"]) for h in hours}) == len(hours),
          "an hour written twice")
    print(f"posts_per_category_hour = the batch GROUP BY over pin ⋈ geo: {len(hours)} hours, "
          f"{sum(h['posts'] for h in hours)} posts, {state['late']} joined rows late; pin_geo "
          f"= the batch join, {len(want_join)} rows")


if __name__ == "__main__":
    main()
