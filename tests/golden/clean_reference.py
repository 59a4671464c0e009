#!/usr/bin/env python3
"""An independent implementation of the cleaning rules of conf/README.md ("Cleaning rules") with pandas, written
from the rules, not from pinstream's code. It reads the bundled data set and writes the expected
cleaned tables as JSON Lines (pin.jsonl, geo.jsonl, user.jsonl) in pinstream's JSON conventions
(timestamps as "YYYY-MM-DDTHH:MM:SS.000Z", arrays as JSON arrays).

    clean_reference.py DATA_DIR OUT_DIR [--indices FILE]

--indices keeps only the posts whose index is listed (one per line), for comparing the HTTP path
with what the emulator actually sent.
"""
import argparse
import json
import os
import re
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

NO_DATA = {
    "description": ["No description available Story format", "No description available"],
    "follower_count": ["User Info Error"],
    "image_src": ["Image src error."],
    "poster_name": ["User Info Error"],
    "tag_list": ["N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"],
    "title": ["No Title Data Available"],
}
PIN_ORDER = ["ind", "unique_id", "title", "description", "follower_count", "poster_name", "tag_list",
             "is_image_or_video", "image_src", "save_location", "category"]


def to_count(v):
    """'2M' -> 2000000, '1.5k' -> 1500, '305' -> 305 (rule 3)."""
    if v is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMbB]?)\s*", v)
    if not m:
        raise ValueError(f"not a count: {v!r}")
    mult = {"": 1, "k": 1000, "m": 1000000, "b": 1000000000}[m.group(2).lower()]
    return int((Decimal(m.group(1)) * mult).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def iso(ts):
    return None if ts is None or pd.isna(ts) else ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def plain(v):
    """A pandas/numpy scalar as a plain Python value; NA/NaN/None as None."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float) and pd.isna(v):
        return None
    return v.item() if hasattr(v, "item") else v


def clean_pin(data_dir):
    with open(os.path.join(data_dir, "pinterest_data_partial.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    df = pd.DataFrame(rows, dtype=object)
    # 1. every empty string becomes null
    df = df.apply(lambda col: col.map(lambda v: None if v == "" else v))
    # 2. values that mean "no data" become null
    for col, values in NO_DATA.items():
        df[col] = df[col].map(lambda v, values=values: None if v in values else v)
    # 3. follower_count: k / M suffixes -> int64
    df["follower_count"] = df["follower_count"].map(to_count).astype("Int64")
    # 4. downloaded and index become int64
    df["downloaded"] = df["downloaded"].astype("Int64")
    df["index"] = df["index"].astype("Int64")
    # 5. save_location: keep only the path
    df["save_location"] = df["save_location"].map(
        lambda v: v[len("Local save in "):] if isinstance(v, str) and v.startswith("Local save in ") else v)
    # 6. rename index -> ind
    df = df.rename(columns={"index": "ind"})
    # one row per post: dedup on unique_id, first arrival wins
    df = df.drop_duplicates(subset=["unique_id"], keep="first")
    # 7. column order (downloaded dropped)
    return df[PIN_ORDER]


def read_csv(data_dir, name):
    # Every field as text; an empty field stays "" here and becomes null by rule 1.
    df = pd.read_csv(os.path.join(data_dir, name), dtype=str, keep_default_na=False)
    return df.drop(columns=[df.columns[0]])  # the unnamed row-number column


def clean_geo(data_dir):
    df = read_csv(data_dir, "geolocation_data.csv")
    df = df.apply(lambda col: col.map(lambda v: None if v == "" else v))
    df["ind"] = df["ind"].astype("int64")
    df["coordinates"] = [[float(a), float(b)] for a, b in zip(df["latitude"], df["longitude"])]
    df = df.drop(columns=["latitude", "longitude"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], format="%Y-%m-%d %H:%M:%S", utc=True)
    df = df.drop_duplicates(subset=["ind"], keep="first")
    return df[["ind", "country", "coordinates", "timestamp"]]


def clean_user(data_dir):
    df = read_csv(data_dir, "user_data.csv")
    df = df.apply(lambda col: col.map(lambda v: None if v == "" else v))
    df["user_name"] = df["first_name"] + " " + df["last_name"]
    df = df.drop(columns=["first_name", "last_name"])
    df["ind"] = df["ind"].astype("int64")
    df["age"] = df["age"].astype("int64")
    df["date_joined"] = pd.to_datetime(df["date_joined"], format="%Y-%m-%d %H:%M:%S", utc=True)
    df = df.drop_duplicates(subset=["ind"], keep="first")
    return df[["ind", "user_name", "age", "date_joined"]]


def write(df, path, ts_cols=()):
    with open(path, "w") as f:
        for rec in df.to_dict(orient="records"):
            out = {}
            for k, v in rec.items():
                if k in ts_cols:
                    out[k] = iso(v)
                elif isinstance(v, list):
                    out[k] = v
                else:
                    out[k] = plain(v)
            f.write(json.dumps(out, ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--indices")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    pin, geo, user = clean_pin(a.data_dir), clean_geo(a.data_dir), clean_user(a.data_dir)
    if a.indices:
        with open(a.indices) as f:
            keep = {int(line) for line in f if line.strip()}
        pin, geo, user = pin[pin["ind"].isin(keep)], geo[geo["ind"].isin(keep)], user[user["ind"].isin(keep)]
    write(pin, os.path.join(a.out_dir, "pin.jsonl"))
    write(geo, os.path.join(a.out_dir, "geo.jsonl"), ts_cols=("timestamp",))
    write(user, os.path.join(a.out_dir, "user.jsonl"), ts_cols=("date_joined",))


if __name__ == "__main__":
    main()
