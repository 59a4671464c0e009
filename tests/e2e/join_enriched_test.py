#!/usr/bin/env python3
"""The shipped conf/examples/pin-enriched.yaml (two stream-stream joins by `ind`: pin ⋈ geo ⋈ user
read from the cleaned tables as streams) run by the daemon on the bundled data set: the
`pin_enriched` table it writes must equal `pinstream sql`'s batch join of the cleaned tables it
read (every column, every row, as a multiset); progress `stateOperators` and `pinstream checkpoint
show` report both joins' state. The daemon is then killed (-9) after a second delivery of the geo
file starts (new rows for no key: the joins' state holds them) and restarted: the table still
equals the batch join."""
import argparse
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import Example, canon, check, differences, fail, wait  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "conf", "examples", "pin-enriched.yaml")
DATA = os.path.join(ROOT, "tests", "data", "pinterest")
BATCH_JOIN = ("SELECT * FROM pin JOIN geo USING (ind) JOIN user USING (ind)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    with Example(a.binary, CONFIG, DATA,
                 ["pinterest_data_partial.jsonl", "geolocation_data.csv", "user_data.csv"],
                 "pinstream-join-") as ex:
        run(ex)
    print("OK")


def compare(ex, what):
    """pin_enriched equals the batch join of the tables it read; its row count."""
    got = ex.sql("SELECT * FROM pin_enriched")
    want = ex.sql(BATCH_JOIN)
    check(got is not None and want is not None, "pinstream sql failed")
    check(len(want) > 5000, f"the batch join has {len(want)} rows")
    check(list(got[0].keys()) == list(want[0].keys()),
          f"columns: {list(got[0].keys())} vs the batch join's {list(want[0].keys())}")
    g, w = canon(got), canon(want)
    if g != w:
        fail(f"{what}: pin_enriched ({len(g)} rows) differs from the batch join ({len(w)}): "
             + differences(g, w))
    print(f"{what}: pin_enriched = the batch join, {len(g)} rows, columns {list(got[0].keys())}")
    return len(g)


def run(ex):
    count = ex.count
    d = ex.start("enriched")
    # The cleaned tables are complete (5252 pins, 11154 geo and user rows), then the join
    # catches up.
    wait(lambda: count("pin") == 5252 and count("geo") == 11154 and count("user") == 11154,
         "the cleaned tables", 120)
    want = count(f"({BATCH_JOIN})")
    wait(lambda: count("pin_enriched") == want, f"pin_enriched to reach {want} rows", 120)
    reports = [r for r in d.json("/queries/pin_enriched/progress") if r["numInputRows"] > 0]
    ops = reports[-1]["stateOperators"]
    check(len(ops) == 2 and all(o["operatorName"] == "join" for o in ops),
          f"stateOperators: {json.dumps(ops)[:500]}")
    check(all(o["numRowsTotal"] > 0 for o in ops), f"join state rows: {json.dumps(ops)[:500]}")
    print("stateOperators:", [(o["operatorName"], o["numRowsTotal"]) for o in ops])
    d.stop()
    check(d.p.returncode == 0, f"daemon exited {d.p.returncode} on SIGTERM")
    n = compare(ex, "after a run")

    show = subprocess.run([ex.binary, "checkpoint", "show", "pin_enriched", "-d", ex.data_dir],
                          capture_output=True, text=True)
    check(show.returncode == 0, f"checkpoint show: {show.stderr}")
    joins = [line for line in show.stdout.splitlines() if line.startswith("state op:")]
    check(len(joins) == 2 and all(":join:join " in line for line in joins),
          f"checkpoint show: {show.stdout[:800]}")
    check(show.stdout.count(" keys, ~") >= 2, f"checkpoint show sizes: {show.stdout[:800]}")

    # A fresh data dir, the daemon killed -9 as soon as the first cleaned rows are in (the join
    # has state, or is about to), then restarted: the same result.
    d = ex.start("killed")
    wait(lambda: count("pin") > 0 or count("pin_enriched") > 0, "the first rows", 60, 0.02)
    d.p.send_signal(signal.SIGKILL)
    d.p.wait()
    print(f"killed with pin_enriched at {count('pin_enriched')} rows")
    d = ex.start("killed")
    wait(lambda: count("pin_enriched") == want, "pin_enriched after the restart", 120)
    d.stop()
    check(d.p.returncode == 0, f"daemon exited {d.p.returncode} on SIGTERM")
    check(compare(ex, "after kill -9 and a restart") == n, "the row count changed")


if __name__ == "__main__":
    main()
