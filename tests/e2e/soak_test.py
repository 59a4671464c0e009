#!/usr/bin/env python3
"""Soak (labels e2e, slow): mixed load from every kind of client into the Pinterest cleaning
queries and the stateful queries, while the daemon is killed with SIGKILL (and now and then
stopped with SIGTERM) at random moments and restarted.

Clients, each a thread sending posts (pin and geo records sharing one `ind`) all the time:
- the Kafka REST Proxy API (POST /topics/soak.pin|.geo, 1-10 posts a request);
- the Kinesis API Gateway shape (PUT /streams/<s>/records);
- the native Kinesis API through boto3 (put_records; the SDK's own retries off, so an answer is
  the answer to one attempt);
- Kafka: kcat producing to `pinstream kafka-mock`'s topics;
- files: .jsonl files renamed into the directories the file sources read.
About 5% of the posts are sent again, identical, through another client (a duplicate the dedup
must drop, also across restarts). The HTTP clients never retry: a request without an answer
(the daemon was killed) is "unacknowledged" — its records may be stored at most once per send.

Queries (tests/e2e/soak.yaml): pin_raw and geo_raw (every record as it arrived, all four sources
unioned), pin and geo (conf/pinterest.yaml's cleaning, dedup by unique_id / ind), geo_hourly (a
tumbling 1-hour window per country in update mode, reading the cleaned geo table as a stream)
and pin_geo (the stream-stream join of the cleaned tables by ind); the live view
soak_category_countries (tests/e2e/soak_view.sql: a left join of the cleaned tables under a GROUP
BY, so a pin counted under a NULL country is retracted when its geo row arrives).

After the last restart, with every client stopped:
- every acknowledged record is in its raw table as often as it was acknowledged (once, unless it
  was a deliberate duplicate) plus at most its unacknowledged sends, and every acknowledged post
  exactly once in its cleaned table with the cleaned values;
- geo_hourly equals `pinstream sql`'s GROUP BY over the cleaned geo table, pin_geo equals its
  JOIN of the cleaned pin and geo tables, and the view's table equals its SQL run by `pinstream
  sql` over the cleaned tables (every row and column);
- no query failed (/queries, polled before every kill) and every SIGTERM drained (exit 0).
Prints kills, records checked and the result. The suite runs the short form (12 kills, >= 30 s of
load); --long is the long form (>= 60 kills, >= 3 min of load). tests/README.md keeps the figures.
"""
import argparse
import datetime
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402
from e2e_util import KafkaMock, check, fail, free_port, wait  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "soak.yaml")
COUNTRIES = ["Albania", "Chile", "India", "Japan", "Kenya", "Norway", "Peru", "Tonga"]
CATEGORIES = ["art", "beauty", "diy", "finance", "quotes", "travel"]
FOLLOWERS = [("305", 305), ("12k", 12000), ("2M", 2000000), ("1.5k", 1500), ("User Info Error", None)]


class Ledger:
    """What the clients sent: per (type, ind) the acknowledged and unacknowledged sends."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}    # (type, ind) -> sends answered with success
        self.unacked = {}  # (type, ind) -> sends without a (successful) answer
        self.posts = {}    # ind -> (pin record, geo record)
        self.requests = {"ok": 0, "failed": 0}

    def note(self, kind, inds, ok):
        with self.lock:
            book = self.acked if ok else self.unacked
            for ind in inds:
                book[(kind, ind)] = book.get((kind, ind), 0) + 1
            self.requests["ok" if ok else "failed"] += 1


def make_post(ind, rng):
    followers = rng.choice(FOLLOWERS)
    pin = {"index": ind, "unique_id": f"soak-{ind:08d}", "title": f"post {ind}",
           "description": rng.choice(["", "No description available", f"about {ind}"]),
           "poster_name": f"poster{ind % 97}", "follower_count": followers[0], "tag_list": "a,b",
           "is_image_or_video": "image", "image_src": f"https://i.example/{ind}.jpg", "downloaded": 1,
           "save_location": f"Local save in /data/{rng.choice(CATEGORIES)}",
           "category": rng.choice(CATEGORIES)}
    ts = datetime.datetime(2020, 1, 1) + datetime.timedelta(seconds=rng.randrange(0, 3 * 24 * 3600))
    geo = {"ind": ind, "timestamp": ts.strftime("%Y-%m-%d %H:%M:%S") if ind % 2 else ts.isoformat() + "Z",
           "latitude": round(rng.uniform(-80, 80), 4), "longitude": round(rng.uniform(-170, 170), 4),
           "country": rng.choice(COUNTRIES)}
    return pin, geo, followers[1]


class Clients:
    """The sender threads; each picks new posts (or, now and then, an earlier post again)."""

    def __init__(self, binary, port, work, kafka_servers, ledger, seed):
        self.binary, self.port, self.work, self.kafka = binary, port, work, kafka_servers
        self.ledger = ledger
        self.seed = seed
        self.next_ind = 1
        self.ind_lock = threading.Lock()
        self.stop = threading.Event()
        self.errors = []
        self.threads = [threading.Thread(target=self.run, args=(name, fn), daemon=True)
                        for name, fn in (("rest", self.send_rest), ("gateway", self.send_gateway),
                                         ("boto3", self.send_boto3), ("kafka", self.send_kafka),
                                         ("files", self.send_files))]
        self.file_no = 0

    def posts(self, rng, n):
        out = []
        with self.ind_lock:
            for _ in range(n):
                if self.ledger.posts and rng.random() < 0.05:
                    ind = rng.randrange(1, self.next_ind)
                    if ind in self.ledger.posts:
                        out.append(self.ledger.posts[ind])
                        continue
                ind = self.next_ind
                self.next_ind += 1
                post = make_post(ind, rng)
                self.ledger.posts[ind] = post
                out.append(post)
        return out

    def run(self, name, fn):
        rng = random.Random(f"{self.seed}-{name}")
        conn = [None]
        while not self.stop.is_set():
            posts = self.posts(rng, rng.randint(1, 10))
            try:
                fn(rng, posts, conn)
            except Exception as e:  # noqa: BLE001 - a client's own bug ends the test
                self.errors.append(f"{name}: {type(e).__name__}: {e}")
                return
            time.sleep(rng.uniform(0.02, 0.2))  # the client's pace, not a wait for a condition

    def both(self, posts, ok):
        self.ledger.note("pin", [p[0]["index"] for p in posts], ok)
        self.ledger.note("geo", [p[1]["ind"] for p in posts], ok)

    def http(self, conn, method, path, body, headers):
        """(status, body) or None without an answer; reconnects after a failure."""
        try:
            if conn[0] is None:
                conn[0] = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            conn[0].request(method, path, body, headers)
            r = conn[0].getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException):
            if conn[0] is not None:
                conn[0].close()
            conn[0] = None
            return None

    def send_rest(self, rng, posts, conn):
        for kind, i in (("pin", 0), ("geo", 1)):
            body = json.dumps({"records": [{"value": p[i]} for p in posts]})
            r = self.http(conn, "POST", f"/topics/soak.{kind}", body,
                          {"Content-Type": "application/vnd.kafka.json.v2+json"})
            ok = r is not None and r[0] == 200
            if r is not None and r[0] not in (200, 503):
                raise RuntimeError(f"REST produce answered {r[0]} {r[1][:300]!r}")
            self.ledger.note(kind, [p[i]["index" if i == 0 else "ind"] for p in posts], ok)

    def send_gateway(self, rng, posts, conn):
        for kind, i in (("pin", 0), ("geo", 1)):
            stream = f"streaming-soak-{kind}"
            body = json.dumps({"StreamName": stream, "records": [
                {"data": p[i], "partition-key": str(p[1]["ind"])} for p in posts]})
            r = self.http(conn, "PUT", f"/streams/{stream}/records", body,
                          {"Content-Type": "application/json"})
            inds = [p[i]["index" if i == 0 else "ind"] for p in posts]
            if r is None or r[0] == 503:
                self.ledger.note(kind, inds, False)
                continue
            if r[0] != 200:
                raise RuntimeError(f"gateway PutRecords answered {r[0]} {r[1][:300]!r}")
            answer = json.loads(r[1])
            for ind, rec in zip(inds, answer["Records"]):
                self.ledger.note(kind, [ind], "ErrorCode" not in rec)

    def send_boto3(self, rng, posts, conn):
        import botocore.config
        import botocore.exceptions
        if conn[0] is None:
            import boto3
            conn[0] = boto3.client(
                "kinesis", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
                aws_access_key_id="x", aws_secret_access_key="x",
                config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                              connect_timeout=2, read_timeout=10))
        for kind, i in (("pin", 0), ("geo", 1)):
            inds = [p[i]["index" if i == 0 else "ind"] for p in posts]
            try:
                r = conn[0].put_records(StreamName=f"streaming-soak-{kind}", Records=[
                    {"Data": json.dumps(p[i]).encode(), "PartitionKey": str(p[1]["ind"])} for p in posts])
            except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                    botocore.exceptions.ReadTimeoutError):
                self.ledger.note(kind, inds, False)
                continue
            except botocore.exceptions.ClientError as e:
                if e.response["ResponseMetadata"]["HTTPStatusCode"] in (500, 503):
                    self.ledger.note(kind, inds, False)
                    continue
                raise
            for ind, rec in zip(inds, r["Records"]):
                self.ledger.note(kind, [ind], "ErrorCode" not in rec)

    def send_kafka(self, rng, posts, conn):
        # The brokers are not killed: what kcat produced (exit 0) is acknowledged.
        for kind, i in (("pin", 0), ("geo", 1)):
            lines = "".join(f"{p[1]['ind']}\t{json.dumps(p[i])}\n" for p in posts)
            r = subprocess.run(["kcat", "-P", "-b", self.kafka, "-t", f"soak.{kind}", "-K", "\t"],
                               input=lines, capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise RuntimeError(f"kcat: {r.stderr}")
            self.ledger.note(kind, [p[i]["index" if i == 0 else "ind"] for p in posts], True)

    def send_files(self, rng, posts, conn):
        # A file renamed into place is acknowledged (the daemon is not involved in writing it).
        self.file_no += 1
        for kind, i in (("pin", 0), ("geo", 1)):
            d = os.path.join(self.work, "in", kind)
            name = f"f{self.file_no:06d}.jsonl"
            with open(os.path.join(d, "." + name), "w") as f:
                f.write("".join(json.dumps(p[i]) + "\n" for p in posts))
            os.rename(os.path.join(d, "." + name), os.path.join(d, name))
            self.ledger.note(kind, [p[i]["index" if i == 0 else "ind"] for p in posts], True)


# What a failed check leaves running is stopped on the way out (main's finally).
children = []


def main():
    try:
        soak()
    finally:
        for p in children:
            if p.poll() is None:
                p.kill()
                p.wait()


def soak():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--long", action="store_true", help="the long form: --kills 60 --min-seconds 180")
    ap.add_argument("--kills", type=int, default=12, help="SIGKILLs at least (default 12)")
    ap.add_argument("--min-seconds", type=float, default=30, help="run the load at least this long")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    a = ap.parse_args()
    if a.long:
        a.kills, a.min_seconds = max(a.kills, 60), max(a.min_seconds, 180)
    rng = random.Random(a.seed)
    print(f"seed {a.seed}", flush=True)
    work = e2e_util.work_dir = tempfile.mkdtemp(prefix="pinstream-soak-")
    for kind in ("pin", "geo"):
        os.makedirs(os.path.join(work, "in", kind))
    log = open(f"{work}/log.txt", "ab")
    mock = KafkaMock(a.binary, log, "--topic", "soak.pin:2", "--topic", "soak.geo:2")
    children.append(mock.p)
    port = free_port()
    data_dir = f"{work}/data"
    env = dict(os.environ, PINSTREAM_DATA_DIR=data_dir, PINSTREAM_LISTEN=f"127.0.0.1:{port}",
               KAFKA_BOOTSTRAP_SERVERS=mock.servers, SOAK_INPUT=f"{work}/in")

    def status(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError:
            return 0, b""

    def start():
        p = subprocess.Popen([a.binary, "run", CONFIG], env=env, stdout=log, stderr=log)
        children.append(p)
        wait(lambda: p.poll() is not None or status("/ready")[0] == 200, "the daemon to be ready", 60, 0.02)
        check(p.poll() is None, f"daemon exited {p.returncode} at start")
        return p

    def no_failed_query():
        code, body = status("/queries")
        if code != 200:
            return
        failed = [(q["name"], q["error"]) for q in json.loads(body) if q["state"] == "FAILED" or q["error"]]
        check(not failed, f"queries failed: {failed}")

    ledger = Ledger()
    clients = Clients(a.binary, port, work, mock.servers, ledger, a.seed)
    daemon = start()
    for t in clients.threads:
        t.start()
    t0 = time.monotonic()
    kills = sigterms = 0
    while kills < a.kills or time.monotonic() - t0 < a.min_seconds:
        check(not clients.errors, f"a client failed: {clients.errors}")
        up = rng.uniform(0.3, 4.0)
        deadline = time.monotonic() + up
        while time.monotonic() < deadline:  # the daemon runs under load for `up` seconds
            check(daemon.poll() is None, f"daemon exited {daemon.returncode} by itself")
            time.sleep(0.1)
        no_failed_query()
        if rng.random() < 0.15:
            daemon.send_signal(signal.SIGTERM)
            try:
                rc = daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                fail("SIGTERM: the daemon did not drain within 60 s")
            check(rc == 0, f"SIGTERM: the daemon exited {rc}")
            sigterms += 1
        else:
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
            kills += 1
        daemon = start()
        if (kills + sigterms) % 10 == 0:
            print(f"{kills} kills, {sigterms} SIGTERMs, {time.monotonic() - t0:.0f} s, "
                  f"requests {ledger.requests}", flush=True)
    clients.stop.set()
    t_stop = time.monotonic()
    for t in clients.threads:
        t.join(timeout=60)
    print(f"clients stopped in {time.monotonic() - t_stop:.1f} s", flush=True)
    check(not clients.errors, f"a client failed: {clients.errors}")
    load_seconds = time.monotonic() - t0

    def sql(statement):
        r = subprocess.run([a.binary, "sql", "-d", data_dir, "--format", "jsonl", statement],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"pinstream sql {statement!r}: {r.stderr}")
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    # Every acknowledged record reaches its raw and cleaned table; then the stateful queries
    # catch up with the cleaned tables.
    acked_posts = {k: {ind for (kind, ind) in ledger.acked if kind == k} for k in ("pin", "geo")}
    acked_sends = {k: sum(n for (kind, _), n in ledger.acked.items() if kind == k) for k in ("pin", "geo")}

    def count(table):
        return sql(f"SELECT count(*) AS n FROM {table}")[0]["n"]

    def canon(rows):
        return sorted(json.dumps(r, sort_keys=True) for r in rows)
    t_drain = time.monotonic()
    wait(lambda: all(count(f"{k}_raw") >= acked_sends[k] and count(k) >= len(acked_posts[k]) for k in ("pin", "geo")),
         "every acknowledged record in the raw and cleaned tables", 180, 0.5)
    hourly_sql = ("SELECT country, strftime('%Y-%m-%dT%H:00:00.000Z', timestamp) AS window_start, "
                  "strftime('%Y-%m-%dT%H:00:00.000Z', timestamp, '+1 hour') AS window_end, "
                  "count(*) AS posts FROM geo GROUP BY 1, 2, 3")
    join_sql = "SELECT * FROM pin JOIN geo USING (ind)"
    n_join = count(f"({join_sql})")
    wait(lambda: count("pin_geo") >= n_join, f"pin_geo to reach {n_join} rows", 180, 0.5)
    view_sql = open(os.path.join(HERE, "soak_view.sql")).read()
    view_sql = "\n".join(line for line in view_sql.splitlines() if not line.startswith("--"))
    wait(lambda: canon(sql("SELECT * FROM soak_category_countries")) == canon(sql(view_sql)),
         "the live view soak_category_countries to equal its SQL over the cleaned tables", 180, 0.5)
    no_failed_query()
    print(f"caught up {time.monotonic() - t_drain:.1f} s after the load stopped", flush=True)
    daemon.send_signal(signal.SIGTERM)
    check(daemon.wait(timeout=60) == 0, "the final SIGTERM did not drain cleanly")
    sigterms += 1
    print(f"drained {time.monotonic() - t_drain:.1f} s after the load stopped", flush=True)
    mock.stop()

    # Raw tables: each acknowledged send once, an unacknowledged one at most once.
    checked = 0
    for kind, key in (("pin", "index"), ("geo", "ind")):
        seen = {}
        for row in sql(f"SELECT value FROM {kind}_raw"):
            ind = json.loads(row["value"])[key]
            seen[ind] = seen.get(ind, 0) + 1
        for ind in set(seen) | {i for (k, i) in ledger.acked if k == kind} | {i for (k, i) in ledger.unacked if k == kind}:
            lo = ledger.acked.get((kind, ind), 0)
            hi = lo + ledger.unacked.get((kind, ind), 0)
            n = seen.get(ind, 0)
            if not lo <= n <= hi:
                fail(f"{kind}_raw holds ind {ind} {n} times: acknowledged {lo}, unacknowledged "
                     f"{hi - lo} (seed {a.seed}, work {work})")
            checked += n
    # Cleaned tables: every acknowledged post exactly once, with the cleaned values.
    pins = sql("SELECT ind, unique_id, follower_count, save_location, category, description FROM pin")
    geos = sql("SELECT ind, country, coordinates, timestamp FROM geo")
    for kind, rows in (("pin", pins), ("geo", geos)):
        inds = [r["ind"] for r in rows]
        check(len(inds) == len(set(inds)), f"{kind} holds an ind twice (seed {a.seed}, work {work})")
        missing = sorted(acked_posts[kind] - set(inds))
        check(not missing, f"{kind} lacks acknowledged posts {missing[:10]} of {len(missing)} (seed {a.seed}, work {work})")
        stray = [i for i in inds if i not in ledger.posts or (i not in acked_posts[kind] and (kind, i) not in ledger.unacked)]
        check(not stray, f"{kind} holds posts never sent: {stray[:10]}")
        checked += len(rows)
    for r in pins:
        pin, _, followers = ledger.posts[r["ind"]]
        want = {"unique_id": pin["unique_id"], "follower_count": followers, "category": pin["category"],
                "save_location": pin["save_location"][len("Local save in "):],
                "description": None if pin["description"] in ("", "No description available") else pin["description"]}
        got = {k: r[k] for k in want}
        check(got == want, f"pin {r['ind']} cleaned as {got}, expected {want}")
    for r in geos:
        geo = ledger.posts[r["ind"]][1]
        coords = json.loads(r["coordinates"]) if isinstance(r["coordinates"], str) else r["coordinates"]
        check(r["country"] == geo["country"] and coords == [geo["latitude"], geo["longitude"]]
              and r["timestamp"].replace("T", " ").rstrip("Z")[:19] == geo["timestamp"].replace("T", " ").rstrip("Z")[:19],
              f"geo {r['ind']} cleaned as {r}, sent {geo}")

    def same(table, statement):
        got, want = canon(sql(f"SELECT * FROM {table}")), canon(sql(statement))
        if got != want:
            g, w = set(got), set(want)
            fail(f"{table} ({len(got)} rows) differs from its recomputation ({len(want)} rows): "
                 f"missing {[x for x in want if x not in g][:3]}, extra {[x for x in got if x not in w][:3]} "
                 f"(seed {a.seed}, work {work})")
        return len(got)
    n_hourly = same("geo_hourly", hourly_sql)
    n_join = same("pin_geo", join_sql)
    n_view = same("soak_category_countries", view_sql)
    print(f"PASS soak: {kills} kill -9, {sigterms} SIGTERM, {load_seconds:.0f} s of load; "
          f"requests {ledger.requests['ok']} answered, {ledger.requests['failed']} unanswered; "
          f"{checked} records checked ({len(acked_posts['pin'])} pins, {len(acked_posts['geo'])} geos acknowledged); "
          f"geo_hourly {n_hourly} rows, pin_geo {n_join} rows and the live view soak_category_countries "
          f"{n_view} rows equal their recomputation (seed {a.seed})")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
