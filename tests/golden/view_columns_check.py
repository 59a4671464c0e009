#!/usr/bin/env python3
"""The live views' planned columns against the batch SQL (label e2e, run by queries_test.sh).

A view's table must equal the batch SQL's answer (`pinstream sql`) over the same tables. Views do
not run yet, but their plans already fix the result's columns: this check plans the eight shipped
queries as views of conf/pinterest-files.yaml (`pinstream views list --format jsonl`) and runs each
statement with `pinstream sql` over the data dir the golden test filled — the column names must be
the same, in the same order, and every value the batch SQL returns must be of the planned type
(where the config cannot tell a column's type before data — an untyped CSV column — the plan says
null and any value fits; those are counted and printed).

    view_columns_check.py --binary PINSTREAM --data-dir DIR --input DATA_SET
"""
import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def fits(value, type_name):
    if value is None or type_name == "null":  # null: a type the config cannot tell before data
        return True
    if type_name == "int64":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "double":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "timestamp":
        return isinstance(value, str) and TIMESTAMP.match(value) is not None
    if type_name == "bool":
        return value in (0, 1, True, False)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--input", required=True)
    args = ap.parse_args()
    env = dict(os.environ, PINSTREAM_DATA_DIR=args.data_dir, PINSTREAM_INPUT=args.input)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(ROOT, "conf", "pinterest-files.yaml")) as f:
            config = f.read() + "\nviews:\n"
        for i in range(1, 9):
            config += "  - {name: q%d_live, sql: %s}\n" % (i, os.path.join(ROOT, "conf", "queries", "q%d.sql" % i))
        path = os.path.join(tmp, "views.yaml")
        with open(path, "w") as f:
            f.write(config)
        out = subprocess.run([args.binary, "views", "list", "--format", "jsonl", "-c", path],
                             capture_output=True, text=True, env=env)
        if out.returncode != 0:
            sys.exit("views list failed: " + out.stderr)
        views = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    if len(views) != 9:
        sys.exit("expected 9 view tables, got %d" % len(views))
    failures = []
    for v in views:
        planned = [(c["name"], c["type"]) for c in v["columns"]]
        run = lambda fmt: subprocess.run([args.binary, "sql", "-d", args.data_dir, "--format", fmt, v["sql"]],
                                         capture_output=True, text=True, check=True).stdout
        header = next(csv.reader(io.StringIO(run("csv"))))
        rows = [json.loads(line) for line in run("jsonl").splitlines() if line.strip()]
        if header != [n for n, _ in planned]:
            failures.append("%s: batch SQL columns %s, planned %s" % (v["table"], header, planned))
            continue
        if not rows:
            failures.append("%s: the batch SQL returned no rows (nothing to check types on)" % v["table"])
        for row in rows:
            for name, type_name in planned:
                if not fits(row.get(name), type_name):
                    failures.append("%s: column %s is planned %s but the batch SQL returned %r" %
                                    (v["table"], name, type_name, row.get(name)))
                    break
        unknown = sum(1 for _, t in planned if t == "null")
        print("%-10s %d rows, columns %s%s" % (v["table"], len(rows), ", ".join("%s %s" % c for c in planned),
                                               " (%d typed only by data)" % unknown if unknown else ""))
    if failures:
        print("\n".join(failures[:20]), file=sys.stderr)
        sys.exit(1)
    print("the planned columns of the 9 view tables match the batch SQL's names and value types")


if __name__ == "__main__":
    main()
