#!/usr/bin/env python3
"""Compares pinstream's cleaned tables with expected JSON Lines, every row and every column.

    compare_tables.py --binary PINSTREAM --data-dir DATA EXPECTED_DIR [table ...]

Rows are matched by key (pin: unique_id, geo/user: ind); both sides must have exactly the same
keys, columns, column order and values (numbers compared as numbers, doubles exactly).
Exits non-zero with the first differences.
"""
import argparse
import json
import subprocess
import sys

KEYS = {"pin": "unique_id", "geo": "ind", "user": "ind"}


def rows_of(binary, data_dir, table):
    r = subprocess.run([binary, "scan", table, "--format", "jsonl", "-d", data_dir], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: cannot read table {table}: {r.stderr}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("expected_dir")
    ap.add_argument("tables", nargs="*", default=["pin", "geo", "user"])
    a = ap.parse_args()
    problems = []
    for t in a.tables:
        with open(f"{a.expected_dir}/{t}.jsonl") as f:
            want = [json.loads(line) for line in f if line.strip()]
        got = rows_of(a.binary, a.data_dir, t)
        key = KEYS[t]
        if got and want and list(got[0].keys()) != list(want[0].keys()):
            problems.append(f"{t}: columns {list(got[0].keys())} != expected {list(want[0].keys())}")
        w = {r[key]: r for r in want}
        g = {}
        for r in got:
            if r[key] in g:
                problems.append(f"{t}: key {r[key]!r} appears twice")
            g[r[key]] = r
        missing = sorted(set(w) - set(g), key=str)
        extra = sorted(set(g) - set(w), key=str)
        if missing:
            problems.append(f"{t}: {len(missing)} expected rows missing, e.g. {missing[:5]}")
        if extra:
            problems.append(f"{t}: {len(extra)} unexpected rows, e.g. {extra[:5]}")
        diffs = 0
        for k in set(w) & set(g):
            if w[k] != g[k]:
                diffs += 1
                if diffs <= 5:
                    cols = [c for c in w[k] if w[k].get(c) != g[k].get(c)]
                    problems.append(f"{t} {key}={k!r}: " + "; ".join(f"{c}: got {g[k].get(c)!r} want {w[k].get(c)!r}" for c in cols))
        if diffs:
            problems.append(f"{t}: {diffs} rows differ")
        print(f"{t}: {len(got)} rows, {len(want)} expected, {diffs} differing")
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print("PASS: every row and column matches")


if __name__ == "__main__":
    main()
