#!/usr/bin/env python3
"""The eight analysis queries in idiomatic pandas over the CSV files sql_bench writes (1M rows per
table), timed per query (best of 3; loading the CSVs is not timed). Prints RESULT lines like the
C++ benchmarks and each result's row count (compared with pinstream's by run_benchmarks.sh).

    sql_pandas.py CSV_DIR
"""
import sys
import time

import pandas as pd


def age_group(age):
    return pd.cut(age.fillna(-1), bins=[-10**9, 17, 24, 35, 50, 10**9],
                  labels=["50+", "18-24", "25-35", "36-50", "50+ "], ordered=False).astype(str).str.strip()


def median(s):
    # rank ceil(n/2) of the non-null values = the lower median
    return s.quantile(0.5, interpolation="lower")


def top(df, group, col):
    return df[df[col] == df.groupby(group)[col].transform("max")]


def q1(pin, geo, user):
    pg = pin.merge(geo, on="ind")
    c = pg.groupby(["country", "category"]).size().reset_index(name="category_count")
    return top(c, "country", "category_count").sort_values(["country", "category"])


def q2(pin, geo, user):
    pg = pin.merge(geo, on="ind")
    pg = pg.assign(post_year=pg["timestamp"].str[:4].astype(int))
    pg = pg[pg["post_year"].between(2018, 2022)]
    return pg.groupby(["post_year", "category"]).size().reset_index(name="category_count")


def q3(pin, geo, user):
    pg = pin.merge(geo, on="ind").dropna(subset=["follower_count"])
    a = top(pg, "country", "follower_count")[["country", "poster_name", "follower_count"]].drop_duplicates()
    a = a.sort_values(["country", "poster_name"])
    t = pg.groupby("country")["follower_count"].max().reset_index()
    b = t[t["follower_count"] == t["follower_count"].max()].sort_values("country")
    return pd.concat([a, b])


def with_groups(pin, user):
    pu = pin.merge(user, on="ind")
    return pu.assign(age_group=age_group(pu["age"]))


def q4(pin, geo, user):
    c = with_groups(pin, user).groupby(["age_group", "category"]).size().reset_index(name="category_count")
    return top(c, "age_group", "category_count").sort_values(["age_group", "category"])


def q5(pin, geo, user):
    return with_groups(pin, user).groupby("age_group")["follower_count"].agg(median).reset_index()


def joined(df):
    df = df.assign(post_year=df["date_joined"].str[:4].astype(int))
    return df[df["post_year"].between(2015, 2020)]


def q6(pin, geo, user):
    return joined(user).groupby("post_year").size().reset_index(name="number_users_joined")


def q7(pin, geo, user):
    return joined(with_groups(pin, user)).groupby("post_year")["follower_count"].agg(median).reset_index()


def q8(pin, geo, user):
    return joined(with_groups(pin, user)).groupby(["age_group", "post_year"])["follower_count"].agg(median).reset_index()


def main():
    d = sys.argv[1]
    pin = pd.read_csv(f"{d}/pin.csv")
    geo = pd.read_csv(f"{d}/geo.csv")
    user = pd.read_csv(f"{d}/user.csv")
    total = 0.0
    for name, fn in [("q1", q1), ("q2", q2), ("q3", q3), ("q4", q4), ("q5", q5), ("q6", q6), ("q7", q7), ("q8", q8)]:
        best = float("inf")
        rows = 0
        for _ in range(3):
            t = time.perf_counter()
            rows = len(fn(pin, geo, user))
            best = min(best, time.perf_counter() - t)
        total += best
        print(f"RESULT sql_pandas_{name}_ms {best * 1000:.6g} ms")
        print(f"  {name}   pandas {best * 1000:8.1f} ms   ({rows} rows)")
    print(f"RESULT sql_pandas_total_s {total:.6g} s")


if __name__ == "__main__":
    main()
