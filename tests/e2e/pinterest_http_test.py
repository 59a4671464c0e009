#!/usr/bin/env python3
"""The Pinterest pipeline over HTTP (label e2e): conf/pinterest.yaml as shipped, fed by
`pinstream emulate` through both APIs with varied client encodings, with the daemon killed by
SIGKILL in the middle of the run and restarted. Afterwards the cleaned tables must equal — every
row and column — what the independent reference (tests/golden/clean_reference.py) computes for
the posts that were sent: nothing lost, nothing twice, dedup state intact across the crash.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from e2e_util import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DATA = os.path.abspath(os.path.join(ROOT, "tests", "data", "pinterest"))


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--posts", type=int, default=1500)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pinstream-pinhttp-")
    port = free_port()
    env = dict(os.environ, PINSTREAM_DATA_DIR=f"{work}/data", PINSTREAM_LISTEN=f"127.0.0.1:{port}",
               PIN_USER_ID="e2e", PINSTREAM_DATA=DATA)
    log = open(f"{work}/daemon.log", "ab")
    config = os.path.join(ROOT, "conf", "pinterest.yaml")

    def start():
        p = subprocess.Popen([a.binary, "run", config], env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if p.poll() is not None:
                fail(f"daemon exited {p.returncode}")
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2).status == 200:
                    return p
            except OSError:
                pass
            time.sleep(0.02)
        fail("daemon never became ready")

    def count(table):
        r = subprocess.run([a.binary, "scan", table, "--format", "jsonl", "-d", f"{work}/data"], capture_output=True, text=True)
        return sum(1 for l in r.stdout.splitlines() if l.strip()) if r.returncode == 0 else 0

    daemon = start()
    emu = subprocess.Popen([a.binary, "emulate", "--base-url", f"http://127.0.0.1:{port}", "--mode", "both",
                            "--posts", str(a.posts), "--rate", "700", "--concurrency", "4", "--mixed-formats",
                            "--record-posts", f"{work}/posts.txt", "--max-retries", "12", "-q"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Kill -9 once the cleaned tables have started filling, while posts are still arriving.
    deadline = time.monotonic() + 60
    while count("pin") < a.posts // 5:
        if time.monotonic() > deadline:
            fail("the pin table did not start filling")
        time.sleep(0.05)
    daemon.send_signal(signal.SIGKILL)
    daemon.wait()
    killed_at = count("pin")
    daemon = start()
    out, err = emu.communicate(timeout=180)
    if emu.returncode != 0:
        fail(f"emulator failed: {out} {err}")
    print(out.strip(), f"(daemon killed with {killed_at} pin rows committed)")

    expected = f"{work}/expected"
    subprocess.run(["/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3",
                    os.path.join(ROOT, "tests", "golden", "clean_reference.py"), DATA, expected,
                    "--indices", f"{work}/posts.txt"], check=True)
    want = {t: sum(1 for _ in open(f"{expected}/{t}.jsonl")) for t in ("pin", "geo", "user")}
    deadline = time.monotonic() + 60
    while any(count(t) < n for t, n in want.items()):
        if time.monotonic() > deadline:
            fail(f"tables did not fill: { {t: count(t) for t in want} } expected {want}")
        time.sleep(0.1)
    # Raw tables keep every delivered record (at least once: a request in flight at the kill may
    # have been stored and then retried by the client).
    for t in ("pin_raw", "geo_raw", "user_raw"):
        if count(t) < a.posts:
            fail(f"{t} has {count(t)} rows for {a.posts} posts")
    daemon.send_signal(signal.SIGTERM)
    if daemon.wait(timeout=60) != 0:
        fail("daemon did not drain cleanly")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "golden", "compare_tables.py"), "--binary", a.binary,
                        "--data-dir", f"{work}/data", expected])
    if r.returncode != 0:
        fail("HTTP path tables differ from the reference")
    for t in ("pin_errors", "geo_errors", "user_errors"):
        if count(t) != 0:
            fail(f"{t} has rows: mixed client formats must all clean")
    shutil.rmtree(work, ignore_errors=True)
    print("PASS pinterest_http")


if __name__ == "__main__":
    main()
