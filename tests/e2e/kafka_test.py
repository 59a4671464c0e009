#!/usr/bin/env python3
"""The Kafka path end to end against `pinstream kafka-mock` (librdkafka's mock cluster, the real
wire protocol on loopback), with kcat (Debian) as the independent client (labels e2e, slow):

- the records pinstream consumes are produced by kcat (copied from topics the emulator filled);
- conf/pinterest-kafka.yaml is killed with SIGKILL mid-run and restarted; the brokers go down
  mid-run and come back; the cleaned tables must equal the pandas reference for the posts sent:
  every post once, nothing lost;
- the cleaned pins the transactional Kafka sink wrote are read back with kcat
  (read_committed): each post exactly once, keyed by unique_id, despite the kill;
- a daemon started while the brokers are down retries (no crash) and catches up when they return.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402
from e2e_util import KafkaMock, fail, wait  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DATA = os.path.abspath(os.path.join(ROOT, "tests", "data", "pinterest"))
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable



def kcat(*args, input=None):
    r = subprocess.run(["kcat", *args], input=input, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        fail(f"kcat {' '.join(args)}: {r.stderr}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--posts", type=int, default=900)
    a = ap.parse_args()
    b = a.binary
    work = e2e_util.work_dir = tempfile.mkdtemp(prefix="pinstream-kafka-")
    log = open(f"{work}/log.txt", "ab")
    mock = KafkaMock(b, log, "--pinterest", "--user-id", "e2e", "--partitions", "2")
    bs = mock.servers

    # The posts: the emulator fills staging topics; kcat copies them to the topics pinstream reads.
    r = subprocess.run([b, "emulate", "--mode", "kafka", "--bootstrap-servers", bs, "--user-id", "stage", "--posts",
                        str(a.posts), "--seed", "7", "--mixed-formats", "--record-posts", f"{work}/posts.txt", "-q"],
                       capture_output=True, text=True, env=dict(os.environ, PINSTREAM_DATA=DATA))
    if r.returncode != 0:
        fail(f"emulate: {r.stdout} {r.stderr}")
    waves = {}
    for kind in ("pin", "geo", "user"):
        lines = kcat("-C", "-b", bs, "-t", f"stage.{kind}", "-e", "-q", "-f", "%k\t%s\n").splitlines()
        if len(lines) != a.posts:
            fail(f"stage.{kind} holds {len(lines)} records, expected {a.posts}")
        third = len(lines) // 3
        waves[kind] = [lines[:third], lines[third:2 * third], lines[2 * third:]]

    def produce_wave(i):
        for kind in ("pin", "geo", "user"):
            kcat("-P", "-b", bs, "-t", f"e2e.{kind}", "-K", "\t", input="\n".join(waves[kind][i]) + "\n")

    expected = f"{work}/expected"
    subprocess.run([PY, os.path.join(ROOT, "tests", "golden", "clean_reference.py"), DATA, expected, "--indices",
                    f"{work}/posts.txt"], check=True)
    want = {t: sum(1 for _ in open(f"{expected}/{t}.jsonl")) for t in ("pin", "geo", "user")}

    # Requests to a broker time out after 1 s here, so that a 3 s outage fails them and the
    # queries' retries (with backoff) show.
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bs, PIN_USER_ID="e2e", PINSTREAM_DATA_DIR=f"{work}/data",
               KAFKA_REQUEST_TIMEOUT="1s")
    config = os.path.join(ROOT, "conf", "pinterest-kafka.yaml")

    def start(e=env):
        return subprocess.Popen([b, "run", config], env=e, stdout=log, stderr=log)

    def count(table, data=f"{work}/data"):
        r = subprocess.run([b, "sql", "-d", data, f"SELECT count(*) FROM {table}", "--format", "csv"],
                           capture_output=True, text=True)
        return int(r.stdout.split()[1]) if r.returncode == 0 and len(r.stdout.split()) == 2 else 0

    daemon = start()
    produce_wave(0)
    wait(lambda: count("pin") > 0, "the pin table to start filling")
    daemon.send_signal(signal.SIGKILL)  # mid-run: batches of the first wave may be planned, uncommitted
    daemon.wait()
    produce_wave(1)
    daemon = start()
    wait(lambda: count("pin") > want["pin"] // 3, "the restarted daemon to go on")
    # The brokers go away mid-run: the queries retry with backoff; the daemon stays up.
    mock.command("down")
    time.sleep(3)  # an outage of a few seconds (the test's scenario, not a wait for a condition)
    if daemon.poll() is not None:
        fail("the daemon exited while the brokers were down")
    mock.command("up")
    produce_wave(2)
    wait(lambda: all(count(t) >= n for t, n in want.items()), f"the tables to hold {want}", timeout=180)

    def sink_messages():
        return kcat("-C", "-b", bs, "-t", "e2e.pin.cleaned", "-e", "-q", "-X", "isolation.level=read_committed",
                    "-f", "%k\t%s\n").splitlines()

    wait(lambda: len(sink_messages()) >= want["pin"], "the Kafka sink to catch up", timeout=180)
    daemon.send_signal(signal.SIGTERM)
    if daemon.wait(timeout=60) != 0:
        fail("daemon did not drain cleanly")
    r = subprocess.run([PY, os.path.join(ROOT, "tests", "golden", "compare_tables.py"), "--binary", b, "--data-dir",
                        f"{work}/data", expected])
    if r.returncode != 0:
        fail("the Kafka path's tables differ from the reference")

    # The transactional sink's output, read back by kcat: every cleaned pin exactly once.
    out = sink_messages()
    keys = [l.split("\t", 1)[0] for l in out]
    ids = [json.loads(l.split("\t", 1)[1])["unique_id"] for l in out]
    if keys != ids:
        fail("sink messages are not keyed by unique_id")
    expected_ids = sorted(json.loads(l)["unique_id"] for l in open(f"{expected}/pin.jsonl"))
    if sorted(ids) != expected_ids:
        fail(f"the sink wrote {len(ids)} messages ({len(set(ids))} distinct); expected {len(expected_ids)} once each")

    # A daemon started while the brokers are down retries and catches up when they return.
    mock.command("down")
    env2 = dict(env, PINSTREAM_DATA_DIR=f"{work}/data2")
    late = start(env2)
    time.sleep(3)  # the outage at start
    if late.poll() is not None:
        fail("a daemon started with the brokers down exited")
    mock.command("up")
    wait(lambda: count("pin", f"{work}/data2") >= want["pin"], "the late daemon to catch up", timeout=180)
    late.send_signal(signal.SIGTERM)
    if late.wait(timeout=60) != 0:
        fail("the late daemon did not drain cleanly")
    mock.stop()
    logtext = open(f"{work}/log.txt", errors="replace").read()
    if "retrying in" not in logtext and "will retry" not in logtext:
        fail("no retry was logged while the brokers were down")
    shutil.rmtree(work, ignore_errors=True)
    print("PASS kafka")


if __name__ == "__main__":
    main()
