#!/usr/bin/env python3
"""Authentication end to end (label e2e), against a daemon with `http.auth`: bearer tokens from a
file, an inline API key, and AWS SigV4 verification for the native Kinesis API with a secret from
a file.

- /health and /ready need nothing; the REST Proxy, the API Gateway shape and the admin endpoints
  need a token (401 in each API's shape without one, or with a wrong one); the admin action
  POST /jobs/<name>/run too, and without the X-Pinstream-Client header every state-changing
  request carries it is refused (403); `pinstream jobs run` through the daemon sends both;
- boto3 (a real AWS SDK) with the right secret: list, describe, put; its records reach the table;
- boto3 with a wrong secret: 400 InvalidSignatureException; with an unknown key id: 400
  UnrecognizedClientException; signed for another region: InvalidSignatureException;
- a request signed by this test's own SigV4 implementation (hmac/hashlib, independent of the
  daemon's and of botocore's) is accepted at the current time and refused 20 minutes in the
  past ("Signature expired"); an unsigned one gets MissingAuthenticationTokenException; a token
  also opens the native API (clients that are not AWS SDKs).
Every wait polls with a deadline.
"""
import argparse
import datetime
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402
from e2e_util import fail, free_port, wait  # noqa: E402

KEY_ID = "AKIAPINSTREAMTEST"
SECRET = "pinstream/Secret+Key/0123456789abcdefghij"
TOKENS = ["tok-alpha-1", "tok-beta-2"]
API_KEY = "api-key-3"

CONFIG = """
data_dir: {work}/data
http:
  listen: 127.0.0.1:{port}
  topics: [t]
  streams: [s]
  auth:
    bearer_tokens_file: tokens
    api_keys: ["${{TEST_API_KEY}}"]
    aws_sigv4:
      region: us-east-1
      access_keys: [{{id: {key_id}, secret_file: aws-secret}}]
sources:
  t: {{kind: http, topic: t}}
  s: {{kind: http, stream: s}}
queries:
  - name: q
    sources: [t, s]
    trigger: {{processing_time: 100ms}}
    operators:
      - {{kind: parse_json, schema: {{n: int64, via: string}}}}
    sink: {{kind: delta, table: rows}}
jobs:
  - name: count_rows
    every: 24h
    sql: [count.sql]
"""



def call(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body, headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        return r.status, json.loads(data or b"null")
    except ValueError:
        return r.status, data


def produce(port, via, headers):
    h = {"Content-Type": "application/vnd.kafka.json.v2+json", **headers}
    return call(port, "POST", "/topics/t", json.dumps({"records": [{"value": {"n": 1, "via": via}}]}), h)


def check(cond, msg):
    if not cond:
        fail(msg)


def sign(port, key_id, secret, when, target, body, region="us-east-1"):
    """AWS Signature Version 4 as AWS documents it, written here independently of the daemon."""
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    headers = {"content-type": "application/x-amz-json-1.1", "host": f"127.0.0.1:{port}",
               "x-amz-date": amz_date, "x-amz-target": target}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(["POST", "/", ""] + [f"{k}:{headers[k]}" for k in sorted(headers)] +
                          ["", signed, hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{region}/kinesis/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (date, region, "kinesis", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={signed}, Signature={signature}"
    return headers


def kinesis_client(port, key_id, secret, region="us-east-1"):
    import boto3
    from botocore.config import Config
    return boto3.client("kinesis", endpoint_url=f"http://127.0.0.1:{port}", region_name=region,
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 0}))


def expect_client_error(fn, code, what):
    from botocore.exceptions import ClientError
    try:
        fn()
    except ClientError as e:
        got = e.response["Error"]["Code"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        check(got == code and status == 400, f"{what}: {status} {got} (want 400 {code}): {e}")
        return e
    fail(f"{what}: the call succeeded")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pinstream-security-")
    e2e_util.work_dir = work
    port = free_port()
    with open(f"{work}/tokens", "w") as f:
        f.write("# operators\n" + "\n".join(TOKENS) + "\n")
    with open(f"{work}/aws-secret", "w") as f:
        f.write(SECRET + "\n")
    with open(f"{work}/count.sql", "w") as f:
        f.write("SELECT 1 AS one;\n")
    config = f"{work}/p.yaml"
    with open(config, "w") as f:
        f.write(CONFIG.format(work=work, port=port, key_id=KEY_ID))
    env = dict(os.environ, TEST_API_KEY=API_KEY)
    log = open(f"{work}/log.txt", "ab")
    proc = subprocess.Popen([a.binary, "run", config], stdout=log, stderr=log, env=env)
    try:
        wait(lambda: proc.poll() is not None or call_ok(port, "/ready"), "the daemon to become ready", 60)
        check(proc.poll() is None, f"the daemon exited {proc.returncode}")
        bearer = {"Authorization": "Bearer " + TOKENS[1]}

        # Probes open; the token APIs closed without a token, open with one.
        check(call(port, "GET", "/health")[0] == 200, "/health needs no token")
        status, body = produce(port, "none", {})
        check(status == 401 and body["error_code"] == 40101, f"REST Proxy without a token: {status} {body}")
        check(produce(port, "wrong", {"Authorization": "Bearer tok-alpha-2"})[0] == 401, "a wrong token")
        check(produce(port, "rest-token", bearer)[0] == 200, "REST Proxy with a token from the file")
        check(produce(port, "rest-key", {"x-api-key": API_KEY})[0] == 200, "REST Proxy with the API key")
        status, body = call(port, "PUT", "/streams/s/record", json.dumps({"Data": {"n": 1}, "PartitionKey": "p"}),
                            {"Content-Type": "application/json"})
        check(status == 401 and body["__type"] == "UnrecognizedClientException", f"gateway without a token: {body}")
        check(call(port, "GET", "/queries")[0] == 401, "GET /queries without a token")
        check(call(port, "GET", "/queries", headers=bearer)[0] == 200, "GET /queries with a token")
        check(call(port, "POST", "/jobs/count_rows/run")[0] == 401, "POST /jobs/<name>/run without a token")
        status, body = call(port, "POST", "/jobs/count_rows/run", headers=bearer)
        check(status == 403 and "X-Pinstream-Client" in body["error"],
              f"POST /jobs/<name>/run with a token but not the client header: {status} {body}")
        status, body = call(port, "POST", "/jobs/count_rows/run", headers={**bearer, "X-Pinstream-Client": "e2e"})
        check(status == 202, f"POST /jobs/<name>/run with a token and the client header: {status} {body}")
        run_id = body["runId"]
        # The job runs one run at a time: the CLI's run is refused (409) while this one goes.
        wait(lambda: call(port, "GET", f"/jobs/runs/{run_id}", headers=bearer)[1].get("status")
             in ("succeeded", "failed"), "the POSTed job run to finish")
        r = subprocess.run([a.binary, "jobs", "run", "count_rows", "-c", config], capture_output=True, text=True,
                           env=env, timeout=120)
        check(r.returncode == 0, f"`pinstream jobs run` through the daemon: {r.returncode} {r.stdout} {r.stderr}")

        # boto3 with the right secret: every call works, records arrive.
        k = kinesis_client(port, KEY_ID, SECRET)
        check("s" in k.list_streams()["StreamNames"], "boto3 list_streams")
        check(k.describe_stream(StreamName="s")["StreamDescription"]["StreamStatus"] == "ACTIVE", "describe")
        k.put_record(StreamName="s", Data=json.dumps({"n": 2, "via": "boto3"}).encode(), PartitionKey="p")
        rs = k.put_records(StreamName="s", Records=[{"Data": json.dumps({"n": 3, "via": "boto3-batch"}).encode(),
                                                    "PartitionKey": "p"}])
        check(rs["FailedRecordCount"] == 0, f"put_records: {rs}")

        # Wrong secret, unknown key, wrong region: Kinesis' error types, 400.
        e = expect_client_error(lambda: kinesis_client(port, KEY_ID, SECRET + "x").list_streams(),
                                "InvalidSignatureException", "boto3 with a wrong secret")
        check("does not match" in e.response["Error"]["Message"], f"message: {e.response['Error']['Message']}")
        expect_client_error(lambda: kinesis_client(port, "AKIAUNKNOWN", SECRET).list_streams(),
                            "UnrecognizedClientException", "boto3 with an unknown key id")
        expect_client_error(lambda: kinesis_client(port, KEY_ID, SECRET, "eu-west-1").list_streams(),
                            "InvalidSignatureException", "boto3 signing for another region")
        from botocore.exceptions import ClientError
        try:
            kinesis_client(port, KEY_ID, SECRET + "x").put_record(StreamName="s", Data=b'{"n": 99}', PartitionKey="p")
            fail("a put with a wrong secret succeeded")
        except ClientError:
            pass

        # An independent signer: now accepted, 20 minutes ago expired; unsigned; a token.
        body = json.dumps({"StreamName": "s", "Data": "eyJuIjogNCwgInZpYSI6ICJobWFjIn0=", "PartitionKey": "p"}).encode()
        now = datetime.datetime.now(datetime.timezone.utc)
        status, resp = call(port, "POST", "/", body, sign(port, KEY_ID, SECRET, now, "Kinesis_20131202.PutRecord", body))
        check(status == 200 and "SequenceNumber" in resp, f"the test's own SigV4 signature: {status} {resp}")
        old = now - datetime.timedelta(minutes=20)
        status, resp = call(port, "POST", "/", body, sign(port, KEY_ID, SECRET, old, "Kinesis_20131202.PutRecord", body))
        check(status == 400 and resp["__type"] == "InvalidSignatureException" and
              resp["message"].startswith("Signature expired"), f"a 20-minute-old signature: {status} {resp}")
        status, resp = call(port, "POST", "/", body, {"X-Amz-Target": "Kinesis_20131202.PutRecord",
                                                      "Content-Type": "application/x-amz-json-1.1"})
        check(status == 400 and resp["__type"] == "MissingAuthenticationTokenException", f"unsigned: {status} {resp}")
        status, resp = call(port, "POST", "/", json.dumps({}).encode(),
                            {"X-Amz-Target": "Kinesis_20131202.ListStreams", **bearer})
        check(status == 200, f"the native API with a token: {status} {resp}")

        # Exactly the accepted records are in the table: rest-token, rest-key, boto3 x2, hmac.
        def vias():
            r = subprocess.run([a.binary, "scan", "rows", "--format", "jsonl", "-d", f"{work}/data"],
                               capture_output=True, text=True)
            return sorted(json.loads(l)["via"] for l in r.stdout.splitlines() if l.strip()) if r.returncode == 0 else []
        want = sorted(["rest-token", "rest-key", "boto3", "boto3-batch", "hmac"])
        wait(lambda: vias() == want, f"the table to hold exactly {want} (has {vias()})", 60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=60)
            if rc != 0:
                fail(f"the daemon exited {rc} on SIGTERM")
    shutil.rmtree(work, ignore_errors=True)
    print("security e2e: ok")


def call_ok(port, path):
    try:
        return call(port, "GET", path)[0] == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()
