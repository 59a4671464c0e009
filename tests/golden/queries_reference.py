#!/usr/bin/env python3
"""An independent implementation of the eight analysis queries (conf/README.md "Analysis queries") in pandas,
over the cleaned tables exported with `pinstream export --format jsonl`, compared row for row
(ties and medians included) with `pinstream report --format jsonl`.

    queries_reference.py --binary PINSTREAM --data-dir DIR [--queries conf/queries]

Exit 0 when every result matches; otherwise the first differences are printed.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import pandas as pd


def load(binary, data_dir, table, out):
    subprocess.run([binary, "export", table, "-d", data_dir, "--format", "jsonl", "--out", out], check=True,
                   stdout=subprocess.DEVNULL)
    rows = []
    folder = os.path.join(out, table)
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return pd.DataFrame(rows)


def age_group(age):
    if age is None or (isinstance(age, float) and math.isnan(age)):
        return "50+"
    if 18 <= age <= 24:
        return "18-24"
    if 25 <= age <= 35:
        return "25-35"
    if 36 <= age <= 50:
        return "36-50"
    return "50+"


def median(values):
    """The value at 1-based rank ceil(n/2) of the non-null values in ascending order."""
    v = sorted(int(x) for x in values if x is not None and not (isinstance(x, float) and math.isnan(x)))
    if not v:
        return None
    return v[math.ceil(len(v) / 2) - 1]


def year(ts):
    return None if ts is None or (isinstance(ts, float) and math.isnan(ts)) else int(ts[:4])


def records(df, columns):
    out = []
    for row in df[columns].itertuples(index=False):
        rec = {}
        for c, v in zip(columns, row):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                v = None
            elif hasattr(v, "item"):
                v = v.item()
            rec[c] = v
        out.append(rec)
    return out


def sort(df, keys):
    # SQLite orders NULL first, then text by bytes (= code points for UTF-8) and numbers numerically.
    return df.sort_values(keys, na_position="first", kind="mergesort")


def top_ties(df, group, count_col):
    best = df.groupby(group, dropna=False)[count_col].transform("max")
    return df[df[count_col] == best]


# One function per result of `pinstream report` (q3 has two), each from the three cleaned
# tables, doing its own joins (so that bench/sql_pandas.py can time them one by one).
def q1(pin, geo, user):
    pg = pin.merge(geo, on="ind", how="inner")
    c = pg.groupby(["country", "category"], dropna=False).size().reset_index(name="category_count")
    return records(sort(top_ties(c, "country", "category_count"), ["country", "category"]),
                   ["country", "category", "category_count"])


def q2(pin, geo, user):
    pg = pin.merge(geo, on="ind", how="inner")
    q = pg.assign(post_year=pg["timestamp"].map(year))
    q = q[(q["post_year"] >= 2018) & (q["post_year"] <= 2022)]
    c = q.groupby(["post_year", "category"], dropna=False).size().reset_index(name="category_count")
    return records(sort(c, ["post_year", "category"]), ["post_year", "category", "category_count"])


def q3a(pin, geo, user):
    pg = pin.merge(geo, on="ind", how="inner")
    f = pg[pg["follower_count"].notna()]
    best = f.groupby("country", dropna=False)["follower_count"].transform("max")
    q = f[f["follower_count"] == best][["country", "poster_name", "follower_count"]].drop_duplicates()
    return records(sort(q, ["country", "poster_name"]), ["country", "poster_name", "follower_count"])


def q3b(pin, geo, user):
    pg = pin.merge(geo, on="ind", how="inner")
    f = pg[pg["follower_count"].notna()]
    top = f.groupby("country", dropna=False)["follower_count"].max().reset_index()
    q = top[top["follower_count"] == top["follower_count"].max()]
    return records(sort(q, ["country"]), ["country", "follower_count"])


def with_age_group(pin, user):
    pu = pin.merge(user, on="ind", how="inner")
    return pu.assign(age_group=pu["age"].map(age_group))


def q4(pin, geo, user):
    pu = with_age_group(pin, user)
    c = pu.groupby(["age_group", "category"], dropna=False).size().reset_index(name="category_count")
    return records(sort(top_ties(c, "age_group", "category_count"), ["age_group", "category"]),
                   ["age_group", "category", "category_count"])


def q5(pin, geo, user):
    pu = with_age_group(pin, user)
    m = pu.groupby("age_group", dropna=False)["follower_count"].agg(lambda s: median(list(s))).reset_index(
        name="median_follower_count")
    return records(sort(m, ["age_group"]), ["age_group", "median_follower_count"])


def q6(pin, geo, user):
    u = user.assign(post_year=user["date_joined"].map(year))
    u = u[(u["post_year"] >= 2015) & (u["post_year"] <= 2020)]
    c = u.groupby("post_year").size().reset_index(name="number_users_joined")
    return records(sort(c, ["post_year"]), ["post_year", "number_users_joined"])


def joined_2015_2020(pin, user):
    pu = with_age_group(pin, user)
    pj = pu.assign(post_year=pu["date_joined"].map(year))
    return pj[(pj["post_year"] >= 2015) & (pj["post_year"] <= 2020)]


def q7(pin, geo, user):
    pj = joined_2015_2020(pin, user)
    m = pj.groupby("post_year")["follower_count"].agg(lambda s: median(list(s))).reset_index(
        name="median_follower_count")
    return records(sort(m, ["post_year"]), ["post_year", "median_follower_count"])


def q8(pin, geo, user):
    pj = joined_2015_2020(pin, user)
    m = pj.groupby(["age_group", "post_year"])["follower_count"].agg(lambda s: median(list(s))).reset_index(
        name="median_follower_count")
    return records(sort(m, ["age_group", "post_year"]), ["age_group", "post_year", "median_follower_count"])


QUERIES = [("Q1", q1), ("Q2", q2), ("Q3 (a)", q3a), ("Q3 (b)", q3b), ("Q4", q4), ("Q5", q5), ("Q6", q6),
           ("Q7", q7), ("Q8", q8)]


def expected(pin, geo, user):
    return [fn(pin, geo, user) for _, fn in QUERIES]


def actual(binary, data_dir, queries):
    cmd = [binary, "report", "-d", data_dir, "--format", "jsonl"]
    if queries:
        cmd += ["--queries", queries]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    results, titles = [], []
    for line in out.splitlines():
        if line.startswith("== "):
            titles.append(line[3:])
            results.append([])
        elif line.strip():
            results[-1].append(json.loads(line))
    return titles, results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--queries", default="")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pinstream-qref-") as tmp:
        pin = load(a.binary, a.data_dir, "pin", tmp)
        geo = load(a.binary, a.data_dir, "geo", tmp)
        user = load(a.binary, a.data_dir, "user", tmp)
    want = expected(pin, geo, user)
    titles, got = actual(a.binary, a.data_dir, a.queries)
    if len(got) != len(want):
        print(f"FAIL: report printed {len(got)} results ({titles}), the reference has {len(want)}")
        return 1
    failed = False
    for title, g, w in zip(titles, got, want):
        if g == w:
            print(f"ok   {title}: {len(g)} rows")
            continue
        failed = True
        print(f"FAIL {title}: pinstream {len(g)} rows, reference {len(w)} rows")
        for i, (x, y) in enumerate(zip(g, w)):
            if x != y:
                print(f"  row {i}: pinstream {x}\n         reference {y}")
                break
        else:
            extra = g[len(w):] or w[len(g):]
            print(f"  first extra row: {extra[0]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
