#!/usr/bin/env python3
"""HTTP ingest end to end against a running daemon (label e2e):

  * keep-alive and pipelining: two requests in one write get two answers, in order
  * a slowloris client (headers trickling in) gets 408 and is disconnected after request_timeout
  * a body over max_body_size gets 413 in the REST Proxy's error shape; the server keeps serving
  * a request split over several reads is answered, a chunked one too; a header over the limit
    gets 431, a malformed request line 400, a body cut short by the client closing 400 (partial
    message); none stores a record
  * "Expect: 100-continue" gets 100 Continue before the body is sent (413 at once when the
    declared body is over the limit)
  * response framing: status line, headers (with a current Date) and Content-Length byte for
    byte; Connection only where it differs from the version's default; HEAD gets GET's headers and
    no body
  * boto3 (the AWS SDK, from Debian) drives the native Kinesis protocol with endpoint_url:
    CreateStream, DescribeStream, ListStreams, PutRecord(s), GetShardIterator, GetRecords
  * records sent through both APIs land in the query's table exactly once
  * TLS: the same API over https with a self-signed certificate
  * drain: SIGTERM while clients are producing: every acknowledged record is durable (it is in the
    table after a restart), the daemon exits 0
Every wait polls with a deadline.
"""
import argparse
import base64
import email.utils
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from e2e_util import free_port


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)



CONFIG = """
data_dir: {work}/data
http:
  listen: 127.0.0.1:{port}
  request_timeout: 1s
  idle_timeout: 5s
  max_body_size: 64KiB
  {tls}
  topics: [{{name: u.pin, partitions: 2}}]
  streams: [{{name: streaming-u-pin, shards: 2}}]
sources:
  t: {{kind: http, topic: u.pin}}
  s: {{kind: http, stream: streaming-u-pin}}
queries:
  - name: pins
    sources: [t, s]
    trigger: {{processing_time: 100ms}}
    operators:
      - {{kind: parse_json, schema: {{n: int64, via: string}}}}
    sink: {{kind: delta, table: pins}}
    dead_letter: pins_errors
"""


class Daemon:
    def __init__(self, binary, work, tls=False):
        self.binary, self.work = binary, work
        self.port = free_port()
        tls_cfg = ""
        if tls:
            tls_cfg = f"tls: {{cert_file: {work}/cert.pem, key_file: {work}/key.pem}}"
        with open(f"{work}/p.yaml", "w") as f:
            f.write(CONFIG.format(work=work, port=self.port, tls=tls_cfg))
        self.log = open(f"{work}/daemon.log", "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.binary, "run", f"{self.work}/p.yaml"], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail(f"daemon exited {self.proc.returncode}: {open(self.work + '/daemon.log').read()[-2000:]}")
            try:
                c = self.conn()
                c.request("GET", "/ready")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        fail("daemon never became ready")

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=30)
        self.proc = None
        return rc

    def rows(self, table):
        r = subprocess.run([self.binary, "scan", table, "--format", "jsonl", "-d", self.work + "/data"],
                           capture_output=True, text=True)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()] if r.returncode == 0 else []

    def wait_rows(self, table, n, timeout=30):
        deadline = time.monotonic() + timeout
        rows = []
        while time.monotonic() < deadline:
            rows = self.rows(table)
            if len(rows) >= n:
                return rows
            time.sleep(0.05)
        fail(f"table {table} has {len(rows)} rows, expected {n}")


def rest(conn, topic, records):
    body = json.dumps({"records": [{"value": r} for r in records]})
    conn.request("POST", f"/topics/{topic}", body, {"Content-Type": "application/vnd.kafka.json.v2+json"})
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"null")


def test_pipelining(d):
    s = socket.create_connection(("127.0.0.1", d.port))
    body = json.dumps({"records": [{"value": {"n": 1, "via": "pipelined"}}]})
    req = (f"POST /topics/u.pin HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.kafka.json.v2+json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n{body}")
    s.sendall((req + "GET /topics HTTP/1.1\r\nHost: x\r\n\r\n").encode())
    data = b""
    s.settimeout(10)
    while data.count(b"HTTP/1.1 200") < 2:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    first = data.find(b"offsets")
    second = data.find(b'["u.pin"]')
    if data.count(b"HTTP/1.1 200") != 2 or not (0 <= first < second):
        fail(f"pipelined requests were not answered in order: {data[:500]!r}")


def test_slowloris(d):
    s = socket.create_connection(("127.0.0.1", d.port))
    s.sendall(b"POST /topics/u.pin HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    s.settimeout(10)
    data = b""
    try:
        for _ in range(20):
            time.sleep(0.2)  # the slow client: one header line at a time
            s.sendall(b"X-Slow: 1\r\n")
            if time.monotonic() - t0 > 5:
                break
    except OSError:
        pass  # the server has closed the connection
    try:
        while True:
            c = s.recv(4096)
            if not c:
                break
            data += c
    except OSError:
        pass
    elapsed = time.monotonic() - t0
    if b"408" not in data.split(b"\r\n", 1)[0] or elapsed > 5:
        fail(f"slowloris client not cut off with 408 after ~1s (took {elapsed:.1f}s): {data[:200]!r}")
    c = d.conn()  # the server keeps serving
    c.request("GET", "/health")
    if c.getresponse().status != 200:
        fail("server stopped serving after a slow client")


def raw_exchange(d, parts, pause=0.0, half_close=False):
    """Sends `parts` on one connection (with `pause` seconds between them, so that they arrive
    in separate reads), then reads until the server closes or one response is complete."""
    s = socket.create_connection(("127.0.0.1", d.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(10)
    for i, p in enumerate(parts):
        if i and pause:
            time.sleep(pause)  # shapes the input into separate reads; nothing is waited for
        s.sendall(p)
    if half_close:
        s.shutdown(socket.SHUT_WR)
    data = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
            head, sep, rest = data.partition(b"\r\n\r\n")
            length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if sep and length and len(rest) >= length[0]:
                break
    except OSError:
        pass
    s.close()
    return data


def test_request_edges(d):
    """Requests split over several reads, and broken ones: the status and error shape of each;
    the server keeps serving."""
    body = json.dumps({"records": [{"value": {"n": 2, "via": "split"}}]}).encode()
    head = (b"POST /topics/u.pin HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.kafka.json.v2+json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    data = raw_exchange(d, [head[:20], head[20:], body[:10], body[10:]], pause=0.05)
    if not data.startswith(b"HTTP/1.1 200") or b'"offsets"' not in data:
        fail(f"a request split over four reads: {data[:300]!r}")
    # A chunked body, its chunks split over reads (chunk sizes in hex, a zero-size chunk ends it).
    chunked = json.dumps({"records": [{"value": {"n": 6, "via": "chunked"}}]}).encode()
    half = len(chunked) // 2
    chead = (b"POST /topics/u.pin HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.kafka.json.v2+json\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n")
    parts = [chead, b"%x\r\n" % half + chunked[:half] + b"\r\n",
             b"%x\r\n" % (len(chunked) - half) + chunked[half:] + b"\r\n0\r\n\r\n"]
    data = raw_exchange(d, parts, pause=0.05)
    if not data.startswith(b"HTTP/1.1 200") or b'"offsets"' not in data:
        fail(f"a chunked request: {data[:300]!r}")
    data = raw_exchange(d, [b"GET /topics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n"])
    if not data.startswith(b"HTTP/1.1 431") or b'"error_code":431' not in data:
        fail(f"a header over the limit: {data[:300]!r}")
    data = raw_exchange(d, [b"NOT HTTP AT ALL\r\n\r\n"])
    if not data.startswith(b"HTTP/1.1 400"):
        fail(f"a malformed request line: {data[:300]!r}")
    data = raw_exchange(d, [head, body[:10]], half_close=True)
    if not data.startswith(b"HTTP/1.1 400") or b"partial message" not in data:
        fail(f"a body cut short by the client closing: {data[:300]!r}")
    c = d.conn()
    c.request("GET", "/health")
    if c.getresponse().status != 200:
        fail("server stopped serving after broken requests")


def test_expect_continue(d):
    """A client that sends "Expect: 100-continue" (curl does for bodies over 1 MiB) gets
    "100 Continue" before it sends the body; one whose Content-Length is over the limit gets 413
    at once instead."""
    body = json.dumps({"records": [{"value": {"n": 5, "via": "continue"}}]}).encode()
    s = socket.create_connection(("127.0.0.1", d.port))
    s.settimeout(10)
    s.sendall(b"POST /topics/u.pin HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.kafka.json.v2+json\r\n"
              b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    want = b"HTTP/1.1 100 Continue\r\n\r\n"
    got = b""
    while len(got) < len(want):  # the server answers before the body is sent
        c = s.recv(len(want) - len(got))
        if not c:
            break
        got += c
    if got != want:
        fail(f"no 100 Continue before the body: {got!r}")
    s.sendall(body)
    data = b""
    while b'"offsets"' not in data:
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    if not data.startswith(b"HTTP/1.1 200"):
        fail(f"the request after 100 Continue: {data[:300]!r}")
    data = raw_exchange(d, [b"POST /topics/u.pin HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.kafka.json.v2+json\r\n"
                            b"Expect: 100-continue\r\nContent-Length: 10000000\r\n\r\n"])
    if not data.startswith(b"HTTP/1.1 413"):
        fail(f"Expect with a body over the limit: {data[:300]!r}")


def test_response_framing(d):
    """The bytes of a response: status line, headers, Content-Length of the body; Connection
    only where it differs from the HTTP version's default (HTTP/1.0 keep-alive, 1.1 close)."""
    def split(data):
        head, _, body = data.partition(b"\r\n\r\n")
        return head.decode().split("\r\n"), body
    lines, body = split(raw_exchange(d, [b"GET /topics HTTP/1.1\r\nHost: x\r\n\r\n"]))
    # Date (RFC 9110: every 2xx-4xx answer of a server with a clock carries it), IMF-fixdate, now.
    date = lines[2][len("Date: "):] if len(lines) > 2 and lines[2].startswith("Date: ") else ""
    if (not re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"\d{4} \d\d:\d\d:\d\d GMT", date)
            or abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time()) > 300):
        fail(f"no current IMF-fixdate Date header: {lines}")
    want = ["HTTP/1.1 200 OK", "Server: pinstream", f"Date: {date}", "Content-Type: application/vnd.kafka.v2+json",
            f"Content-Length: {len(body)}"]
    if lines != want or json.loads(body) is None:
        fail(f"HTTP/1.1 response: {lines} {body!r}")
    lines, _ = split(raw_exchange(d, [b"GET /topics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"]))
    if lines[0] != "HTTP/1.0 200 OK" or "Connection: keep-alive" not in lines:
        fail(f"HTTP/1.0 keep-alive response: {lines}")
    lines, _ = split(raw_exchange(d, [b"GET /topics HTTP/1.0\r\n\r\n"]))
    if lines[0] != "HTTP/1.0 200 OK" or any(l.startswith("Connection:") for l in lines):
        fail(f"HTTP/1.0 response: {lines}")
    s = socket.create_connection(("127.0.0.1", d.port))
    s.settimeout(10)
    s.sendall(b"GET /topics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:  # the server closes after answering
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    lines, _ = split(data)
    if lines[0] != "HTTP/1.1 200 OK" or "Connection: close" not in lines:
        fail(f"HTTP/1.1 close response: {lines}")
    # HEAD: GET's status and headers, no body — the next answer on the connection follows at once.
    s = socket.create_connection(("127.0.0.1", d.port))
    s.settimeout(10)
    s.sendall(b"HEAD /topics HTTP/1.1\r\nHost: x\r\n\r\nGET /topics HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while data.count(b"HTTP/1.1 200 OK") < 2 or not data.endswith(body):
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    no_date = lambda ls: [l for l in ls if not l.startswith("Date: ")]
    if (no_date(head.decode().split("\r\n")) != no_date(want) or not rest.startswith(b"HTTP/1.1 200 OK\r\n")
            or not rest.endswith(b"\r\n\r\n" + body)):
        fail(f"HEAD then GET on one connection: {data!r}")


def test_body_limit(d):
    c = d.conn()
    big = json.dumps({"records": [{"value": "x" * 70000}]})
    c.request("POST", "/topics/u.pin", big, {"Content-Type": "application/vnd.kafka.json.v2+json"})
    r = c.getresponse()
    body = json.loads(r.read())
    if r.status != 413 or body.get("error_code") != 413:
        fail(f"oversized body: {r.status} {body}")


def test_boto3(d):
    import boto3
    k = boto3.client("kinesis", endpoint_url=f"http://127.0.0.1:{d.port}", region_name="us-east-1",
                     aws_access_key_id="x", aws_secret_access_key="x")
    k.create_stream(StreamName="boto", ShardCount=2)
    desc = k.describe_stream(StreamName="boto")["StreamDescription"]
    if len(desc["Shards"]) != 2 or desc["StreamStatus"] != "ACTIVE":
        fail(f"describe_stream: {desc}")
    if "boto" not in k.list_streams()["StreamNames"]:
        fail("list_streams lacks the new stream")
    r = k.put_record(StreamName="boto", Data=b'{"n": 1}', PartitionKey="partition-1")
    if r["ShardId"] != "shardId-000000000001":
        fail(f"put_record routed to {r['ShardId']}")
    rs = k.put_records(StreamName="boto", Records=[{"Data": b"a", "PartitionKey": "partition-1"},
                                                    {"Data": b"b", "PartitionKey": "partition-1"}])
    if rs["FailedRecordCount"] != 0 or len(rs["Records"]) != 2:
        fail(f"put_records: {rs}")
    it = k.get_shard_iterator(StreamName="boto", ShardId="shardId-000000000001", ShardIteratorType="TRIM_HORIZON")
    got = k.get_records(ShardIterator=it["ShardIterator"], Limit=10)
    if [x["Data"] for x in got["Records"]] != [b'{"n": 1}', b"a", b"b"]:
        fail(f"get_records: {got['Records']}")
    # The query's own stream, through the SDK: lands in the table.
    k.put_record(StreamName="streaming-u-pin", Data=json.dumps({"n": 2, "via": "boto3"}).encode(), PartitionKey="p")
    try:
        k.describe_stream(StreamName="missing")
        fail("describe_stream of a missing stream succeeded")
    except k.exceptions.ResourceNotFoundException:
        pass
    k.delete_stream(StreamName="boto")


def test_both_apis_into_table(d, expect_total):
    c = d.conn()
    st, body = rest(c, "u.pin", [{"n": 3, "via": "rest"}])
    if st != 200:
        fail(f"REST produce: {st} {body}")
    c.request("PUT", "/streams/streaming-u-pin/record",
              json.dumps({"StreamName": "streaming-u-pin", "Data": {"n": 4, "via": "gateway"}, "PartitionKey": "p"}))
    r = c.getresponse()
    if r.status != 200:
        fail(f"gateway put: {r.status} {r.read()}")
    r.read()
    rows = d.wait_rows("pins", expect_total)
    vias = sorted(x["via"] for x in rows)
    # Exactly these: the broken requests of test_request_edges stored nothing.
    if vias != sorted(["pipelined", "split", "chunked", "continue", "boto3", "rest", "gateway"]):
        fail(f"table holds {vias}")


def test_thread_names(d):
    """The daemon's threads carry names (top -H, ps -L, perf): I/O threads, the log's group-commit
    thread, the query and its shard workers, the signal handler."""
    want = {"http-io-0", "log-writer", "q:pins", "s0:pins", "signals"}

    def names():
        out = set()
        for task in os.listdir(f"/proc/{d.proc.pid}/task"):
            try:
                with open(f"/proc/{d.proc.pid}/task/{task}/comm") as f:
                    out.add(f.read().strip())
            except FileNotFoundError:
                pass  # the thread ended
        return out

    # Each thread names itself as it starts.
    deadline = time.time() + 30
    while not want <= names():
        if time.time() > deadline:
            fail(f"threads named {sorted(want - names())} missing from {sorted(names())}")
        time.sleep(0.05)


def test_tls(binary):
    work = tempfile.mkdtemp(prefix="pinstream-tls-")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{work}/key.pem",
                    "-out", f"{work}/cert.pem", "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    d = Daemon(binary, work, tls=True)
    d.proc = subprocess.Popen([binary, "run", f"{work}/p.yaml"], stdout=d.log, stderr=d.log)
    ctx = ssl.create_default_context(cafile=f"{work}/cert.pem")
    ctx.check_hostname = False
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPSConnection("127.0.0.1", d.port, context=ctx, timeout=5)
            st, body = rest(c, "u.pin", [{"n": 9, "via": "tls"}])
            status = st
            break
        except OSError:
            time.sleep(0.05)
    if status != 200:
        fail(f"TLS produce got {status}")
    try:
        plain = d.conn()
        plain.request("GET", "/health")
        plain.getresponse()
        fail("plain HTTP worked on the TLS port")
    except (OSError, http.client.HTTPException):
        pass
    if d.stop() != 0:
        fail("TLS daemon did not stop cleanly")
    shutil.rmtree(work, ignore_errors=True)


def test_drain_under_load(d):
    acked = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(i):
        n = 0
        try:
            c = d.conn()
            while not stop.is_set():
                n += 1
                try:
                    st, body = rest(c, "u.pin", [{"n": 1000000 * (i + 1) + n, "via": "load"}])
                except (OSError, http.client.HTTPException, ValueError):
                    return  # connection closed by the drain
                if st == 200:
                    with lock:
                        acked.append(1000000 * (i + 1) + n)
        except OSError:
            return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(acked) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    rc = d.stop(signal.SIGTERM)
    stop.set()
    for t in threads:
        t.join()
    if rc != 0:
        fail(f"daemon exited {rc} on SIGTERM under load")
    if len(acked) < 300:
        fail(f"only {len(acked)} records were acknowledged before the drain")
    d.start()
    rows = d.wait_rows("pins", 0)
    deadline = time.monotonic() + 30
    load = set()
    while time.monotonic() < deadline:
        load = [x["n"] for x in d.rows("pins") if x["via"] == "load"]
        if set(acked) <= set(load):
            break
        time.sleep(0.05)
    missing = set(acked) - set(load)
    if missing:
        fail(f"{len(missing)} acknowledged records are missing after the restart, e.g. {sorted(missing)[:5]}")
    if len(load) != len(set(load)):
        fail("a record is in the table twice")
    print(f"drain: {len(acked)} acknowledged records all durable, {len(load)} in the table")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pinstream-http-")
    d = Daemon(a.binary, work)
    d.start()
    try:
        test_thread_names(d)
        test_pipelining(d)
        test_slowloris(d)
        test_request_edges(d)
        test_response_framing(d)
        test_expect_continue(d)
        test_body_limit(d)
        test_boto3(d)
        test_both_apis_into_table(d, 7)
        test_drain_under_load(d)
        if d.proc is not None and d.stop() != 0:
            fail("daemon did not stop cleanly")
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
    test_tls(a.binary)
    shutil.rmtree(work, ignore_errors=True)
    print("PASS http_ingest")


if __name__ == "__main__":
    main()
