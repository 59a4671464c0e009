#!/usr/bin/env python3
"""Live views on the command line (label e2e): conf/pinterest.yaml as shipped (its views: section,
the eight analysis queries), as a user runs it:

- `views list` prints every view table with its columns and types;
- `views explain q1_live` prints the logical plan (a rank bounded to 1 over an aggregate over a
  join) and its operator graph (two inputs, the join, the top-N); `views explain q6_live` (one
  table) prints its operator graph; an unknown name exits 2 naming the views;
- `validate` lists the views (each runs as a query), and reports a broken view's SQL error at the
  file's line:column, which `run` refuses too (exit 2) without creating a data dir (configs
  with the shipped views replaced by the test's).
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import without_views  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CONF = os.path.join(ROOT, "conf")


def check(cond, msg, out=None):
    if not cond:
        print("FAIL: " + msg, file=sys.stderr)
        if out is not None:
            print(out.stdout + out.stderr, file=sys.stderr)
        sys.exit(1)


def run(binary, *args, env=None):
    return subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=60)


def write_config(tmp, views, name="views.yaml"):
    with open(os.path.join(CONF, "pinterest.yaml")) as f:
        base = f.read()
    # The daily job in it names queries/*.sql relative to the config's folder.
    if not os.path.exists(os.path.join(tmp, "queries")):
        os.symlink(os.path.join(CONF, "queries"), os.path.join(tmp, "queries"))
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(without_views(base) + "\nviews:\n")
        for name, sql in views:
            f.write("  - {name: %s, sql: %s}\n" % (name, sql))
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    binary = args.binary
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PINSTREAM_DATA_DIR=os.path.join(tmp, "data"))
        cfg = os.path.join(CONF, "pinterest.yaml")  # the eight views as shipped

        out = run(binary, "views", "list", "-c", cfg, env=env)
        check(out.returncode == 0, "views list failed", out)
        lines = out.stdout.splitlines()
        check(lines[0].split() == ["VIEW", "TABLE", "SQL", "STATE", "COLUMNS"], "views list header", out)
        tables = [l.split()[1] for l in lines[1:10]]
        check(tables[:9] == ["q1_live", "q2_live", "q3_live_a", "q3_live_b", "q4_live", "q5_live",
                             "q6_live", "q7_live", "q8_live"], "view tables: %s" % tables, out)
        check("age_group string, median_follower_count int64" in out.stdout, "q5 columns", out)
        check("9 view table(s), " in out.stdout, "list footer", out)
        check("(not started)" in out.stdout and "9 of them run by the daemon" in out.stdout,
              "list states", out)

        out = run(binary, "views", "explain", "q1_live", "-c", cfg, env=env)
        check(out.returncode == 0, "views explain failed", out)
        text = out.stdout
        for needle in ["view q1_live → table q1_live", "logical plan:", "Sort country, category",
                       "TopN rank() over (partition by counts.country order by counts.category_count DESC) <= 1 AS r",
                       "Aggregate group by g.country, p.category: count(*) AS category_count",
                       "Join inner on p.ind = g.ind  → (left, right: 15 columns)", "Scan pin AS p", "Scan geo AS g",
                       "operator graph (changes flow down; state none yet: the view has not run):",
                       "  1. in1: changes of table pin (ind, category; 9 other columns not read)",
                       "  2. in2: changes of table geo (ind, country; 2 other columns not read)",
                       "  3. n1 ← in1, in2: inner join on p.ind = g.ind",
                       ": top-N rank() over (partition by counts.country order by counts.category_count DESC) in [1, 1] AS r"]:
            check(needle in text, "explain lacks %r" % needle, out)
        # Q6 reads one table: its operator graph is shown.
        out = run(binary, "views", "explain", "q6_live", "-c", cfg, env=env)
        check(out.returncode == 0, "views explain q6_live failed", out)
        for needle in ["operator graph (changes flow down; state none yet: the view has not run):",
                       "  1. in1: changes of table user (date_joined; 3 other columns not read)",
                       "2. n1 ← in1: filter ", "aggregate group by year(user.date_joined): count(*)",
                       "(ORDER BY applies when the view's table is read)"]:
            check(needle in out.stdout, "q6 explain lacks %r" % needle, out)
        # Indentation: every node under its parent.
        check("\n      TopN" in text or "\n        TopN" in text, "TopN indented", out)
        out = run(binary, "views", "explain", "q3_live", "-c", cfg, env=env)
        check(out.returncode == 0 and "table q3_live_a" in out.stdout and "table q3_live_b" in out.stdout,
              "explain of a two-statement view shows both", out)
        out = run(binary, "views", "explain", "nope", "-c", cfg, env=env)
        check(out.returncode == 2 and "no view named nope" in out.stderr and "q5_live" in out.stderr,
              "unknown view", out)

        out = run(binary, "validate", cfg, env=env)
        check(out.returncode == 0 and "view  q5_live" in out.stdout and "9 views" in out.stdout,
              "validate with the eight views", out)
        q6_cfg = write_config(tmp, [("q6_live", os.path.join(CONF, "queries", "q6.sql"))], "q6.yaml")
        out = run(binary, "validate", q6_cfg, env=env)
        check(out.returncode == 0 and "view  q6_live" in out.stdout and "1 views" in out.stdout,
              "validate with a view that runs", out)

        # A broken view: the SQL file's position.
        bad = os.path.join(tmp, "bad.sql")
        with open(bad, "w") as f:
            f.write("-- a typo on line 2\nSELECT categry, count(*) FROM pin GROUP BY 1\n")
        bad_cfg = write_config(tmp, [("bad_live", bad)], "bad.yaml")
        out = run(binary, "validate", bad_cfg, env=env)
        check(out.returncode == 2, "validate of a broken view exits 2", out)
        check(bad + ":2:8: column categry does not exist (did you mean category?)" in out.stderr,
              "broken view's position", out)
        syntax = os.path.join(tmp, "syntax.sql")
        with open(syntax, "w") as f:
            f.write("SELECT category\nFROM pin\nWHERE AND\n")
        out = run(binary, "validate", write_config(tmp, [("s_live", syntax)], "syntax.yaml"), env=env)
        check(out.returncode == 2 and syntax + ":3:7: syntax error at or near \"AND\"" in out.stderr,
              "syntax error position", out)

        # The daemon refuses a broken view instead of running without it.
        out = run(binary, "run", bad_cfg, env=env)
        check(out.returncode == 2, "run with a broken view must exit 2", out)
        check(bad + ":2:8: column categry does not exist" in out.stderr, "run's refusal message", out)
        check(not os.path.exists(os.path.join(tmp, "data")), "run created the data dir", out)
    print("views CLI: list, explain, validate and run's refusal of a broken view as expected")


if __name__ == "__main__":
    main()
