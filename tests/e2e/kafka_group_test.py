#!/usr/bin/env python3
"""Scale-out with a Kafka consumer group (labels e2e, slow): two daemons with the same group_id
and their own data dirs split a 4-partition topic; when one stops the other takes over its
partitions; when it comes back it resumes where the group left them. After each step the union
of the two raw tables must hold every produced offset exactly once — no loss, no duplicates.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402
from e2e_util import KafkaMock, fail, wait  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    b = a.binary
    work = e2e_util.work_dir = tempfile.mkdtemp(prefix="pinstream-kgroup-")
    log = open(f"{work}/log.txt", "ab")
    mock = KafkaMock(b, log, "--topic", "g.pin:4")
    bs = mock.servers
    produced = 0

    def produce(n):
        nonlocal produced
        body = "".join(f"k{i}\tv{i}\n" for i in range(produced, produced + n))
        r = subprocess.run(["kcat", "-P", "-b", bs, "-t", "g.pin", "-K", "\t"], input=body, capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"kcat: {r.stderr}")
        produced += n

    def config(name):
        path = f"{work}/{name}.yaml"
        with open(path, "w") as f:
            f.write(f"""data_dir: {work}/{name}
sources:
  pins: {{kind: kafka, bootstrap_servers: "{bs}", topics: [g.pin], group_id: scale-out, request_timeout: 2s}}
queries:
  - name: raw
    source: pins
    trigger: {{processing_time: 200ms}}
    operators: [{{kind: cast, columns: {{value: string}}}}]
    sink: {{kind: delta, table: raw}}
""")
        return path

    def start(name):
        return subprocess.Popen([b, "run", config(name)], stdout=log, stderr=log)

    def rows(name):
        if not os.path.exists(f"{work}/{name}"):
            return []
        r = subprocess.run([b, "sql", "-d", f"{work}/{name}", "SELECT partition, offset, value FROM raw", "--format", "csv"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return []
        return [tuple(l.split(",")) for l in r.stdout.splitlines()[1:]]

    def check_union(step):
        ra, rb = rows("a"), rows("b")
        union = ra + rb
        values = [v for _, _, v in union]
        if len(set(values)) != len(values):
            dups = len(values) - len(set(values))
            fail(f"{step}: {dups} records are in both tables or twice")
        if set(values) != {f"v{i}" for i in range(produced)}:
            fail(f"{step}: {len(set(values))} of {produced} records")
        return len(ra), len(rb)

    def assignments():
        log.flush()
        return open(f"{work}/log.txt", errors="replace").read().count("group 'scale-out' assigned")

    def union_complete():
        return len(rows("a")) + len(rows("b")) >= produced

    produce(2000)
    da, db = start("a"), start("b")
    wait(union_complete, "the two daemons to read the first 2000 records", timeout=120, interval=0.2)
    na, nb = check_union("two members")
    if na == 0 or nb == 0:
        fail(f"the partitions were not split: a read {na}, b read {nb}")
    print(f"two members: a {na}, b {nb} records")

    db.send_signal(signal.SIGTERM)  # b leaves the group; a takes its partitions
    if db.wait(timeout=60) != 0:
        fail("b did not stop cleanly")
    produce(2000)
    wait(union_complete, "a to take over b's partitions", timeout=120, interval=0.2)
    na2, nb2 = check_union("after b left")
    if nb2 != nb or na2 <= na:
        fail(f"after b left: a {na2}, b {nb2}")
    print(f"after b left: a {na2}, b {nb2} records")

    # b comes back: it resumes its partitions where a left them. The new records are produced once
    # the group has rebalanced — both members logged a new assignment.
    assigned_before = assignments()
    db = start("b")
    wait(lambda: assignments() >= assigned_before + 2, "the group to rebalance with b back", timeout=120,
         interval=0.2)
    produce(1000)
    wait(union_complete, "the rebalanced group to read the last 1000 records", timeout=120, interval=0.2)
    na3, nb3 = check_union("after b came back")
    print(f"after b came back: a {na3}, b {nb3} records")
    # Both members stop at once: each leaves while the other's departure rebalances the group
    # (the race in which librdkafka's close used to block; see connectors/kafka/README.md).
    for d in (da, db):
        d.send_signal(signal.SIGTERM)
    for d in (da, db):
        try:
            rc = d.wait(timeout=20)
        except subprocess.TimeoutExpired:
            fail("a daemon did not exit within 20 s of SIGTERM (leaving the group blocked?)")
        if rc != 0:
            fail(f"a daemon did not stop cleanly (exit {rc})")
    check_union("at the end")
    mock.stop()
    if os.environ.get("KEEP_WORK"):
        print("work dir:", work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS kafka_group")


if __name__ == "__main__":
    main()
