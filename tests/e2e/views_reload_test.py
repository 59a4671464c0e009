#!/usr/bin/env python3
"""Reloading a live view whose SQL changed (label e2e): the view starts over, as a view recreated.

conf/pinterest.yaml with its views replaced by two of the test's: v_live (posts per category of
posters above a follower threshold) and u_live (unchanged throughout). Posts are sent, the views
catch up, then:

1. v_live's threshold changes — a filter under its aggregate: the aggregate's state would be read
   as counts under the new filter, so continuing from it would give a wrong answer. `pinstream
   reload --json` reports v_live restarted and reset, u_live unchanged (same runId); v_live's table
   gets a version without rows (operation VIEW RESET) and then the new answer, which equals the
   batch SQL (`pinstream sql`) of the new statement over the input versions it consumed; more
   posts keep it equal;
2. a statement giving other columns is refused for v_live with the reason (a view's table keeps
   its columns) and v_live runs its previous statement again, its table untouched;
3. the SQL file changed while the daemon was stopped: the view resets when the daemon starts
   (the same as a reload), and its answer equals the batch SQL again.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402
from e2e_util import Daemon, check, fail, wait  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data", "pinterest")

V_SQL = "SELECT category, count(*) AS posts FROM pin WHERE follower_count > {n} GROUP BY category\n"
U_SQL = "SELECT count(*) AS users FROM user\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pinstream-views-reload-")
    e2e_util.work_dir = work
    os.symlink(os.path.join(ROOT, "conf", "queries"), os.path.join(work, "queries"))
    v_file, u_file = os.path.join(work, "v.sql"), os.path.join(work, "u.sql")
    with open(v_file, "w") as f:
        f.write(V_SQL.format(n=1000))
    with open(u_file, "w") as f:
        f.write(U_SQL)
    config = os.path.join(work, "views.yaml")
    with open(os.path.join(ROOT, "conf", "pinterest.yaml")) as f:
        text = e2e_util.without_views(f.read())
    with open(config, "w") as f:
        f.write(text + "\nviews:\n  - {name: v_live, sql: v.sql}\n  - {name: u_live, sql: u.sql}\n")

    def cli(*args, ok=True, env=None):
        r = subprocess.run([a.binary, *args], capture_output=True, text=True, timeout=120, env=env)
        if ok and r.returncode != 0:
            fail(f"pinstream {' '.join(args)}: exit {r.returncode}: {r.stderr[-800:]}")
        return r

    def rows(d, sql):
        out = cli("sql", "-d", d.env["PINSTREAM_DATA_DIR"], "--format", "jsonl", sql).stdout
        return sorted(json.dumps(json.loads(l), sort_keys=True) for l in out.splitlines() if l.strip())

    def history(d):
        out = cli("history", "-d", d.env["PINSTREAM_DATA_DIR"], "v_live", "--json").stdout
        return sorted((json.loads(l) for l in out.splitlines() if l.strip()), key=lambda c: c["version"])

    def post(d, n, seed):
        r = subprocess.run([a.binary, "emulate", "-u", d.base, "--user-id", "e2e", "-n", str(n), "-b", "25",
                            "--seed", str(seed), "--data", DATA, "-q"], capture_output=True, text=True, timeout=300)
        check(r.returncode == 0, f"emulate failed: {r.stderr[-500:]}")

    def caught_up(d):
        qs = {q["name"]: q for q in d.json("/queries")}
        return all(qs[q]["backlogRecords"] == 0 for q in ("pin", "user")) and d.views_caught_up()

    def check_answer(d, threshold, what):
        """v_live's latest version is the batch SQL over the pin version it consumed."""
        last = history(d)[-1]
        pin_version = last["operationMetrics"]["inputVersion.pin"]
        want = rows(d, V_SQL.format(n=threshold).replace("FROM pin", f"FROM pin_at({pin_version}) AS pin"))
        got = rows(d, "SELECT * FROM v_live")
        check(got == want, f"{what}: v_live {got[:5]} differs from the batch SQL {want[:5]} (pin version {pin_version})")
        check(len(want) > 0, f"{what}: the batch SQL gives no rows")
        return last["version"]

    def reload():
        r = cli("reload", "-c", config, "--json", ok=False, env=d.env)  # the daemon's address
        try:
            return r.returncode, json.loads(r.stdout)
        except ValueError:
            fail(f"reload printed no JSON: {r.stdout!r} {r.stderr!r}")

    d = Daemon(a.binary, work, config, "views", DATA)
    try:
        post(d, 300, 1)
        wait(lambda: caught_up(d), "the views to catch up", 120)
        check_answer(d, 1000, "before the reload")
        before = {q["name"]: q for q in d.json("/queries")}

        # 1. The filter under the aggregate changes: v_live resets.
        with open(v_file, "w") as f:
            f.write(V_SQL.format(n=100000))
        code, ans = reload()
        q = ans["queries"]
        check(code == 0 and q["restarted"] == ["v_live"] and q["reset"] == ["v_live"] and "u_live" in q["unchanged"]
              and q["refused"] == [] and q["failed"] == [], f"reload 1: exit {code} {q}")
        after = {q["name"]: q for q in d.json("/queries")}
        check(after["u_live"]["runId"] == before["u_live"]["runId"], "u_live was restarted")
        check(after["v_live"]["runId"] != before["v_live"]["runId"], "v_live was not restarted")
        wait(lambda: caught_up(d), "v_live to recompute", 120)
        commits = history(d)
        resets = [c for c in commits if c["operation"] == "VIEW RESET"]
        check(len(resets) == 1, f"v_live's history has {len(resets)} VIEW RESET versions: "
                                f"{[c['operation'] for c in commits]}")
        reset_at = resets[0]["version"]
        check(rows(d, f"SELECT count(*) AS n FROM v_live_at({reset_at})") == ['{"n": 0}'],
              "the reset version still has rows")
        check(commits[-1]["version"] > reset_at, "no version after the reset")
        check_answer(d, 100000, "after the reset")
        post(d, 200, 2)
        wait(lambda: caught_up(d), "the views to catch up again", 120)
        check_answer(d, 100000, "after more posts")

        # 2. Other columns: refused, the previous statement runs again, the table untouched.
        version = history(d)[-1]["version"]
        with open(v_file, "w") as f:
            f.write("SELECT category, count(*) AS posts, max(follower_count) AS most FROM pin GROUP BY category\n")
        code, ans = reload()
        q = ans["queries"]
        check(code != 0 and [f["query"] for f in q["failed"]] == ["v_live"] and q["reset"] == [],
              f"reload 2: exit {code} {q}")
        reason = q["failed"][0]["reason"]
        check("keeps its columns" in reason and "runs its previous config again" in reason, f"reload 2 reason: {reason}")
        check(history(d)[-1]["version"] == version, "the refused reset changed v_live's table")
        post(d, 100, 3)
        wait(lambda: caught_up(d), "v_live (its previous statement) to catch up", 120)
        check_answer(d, 100000, "after the refused change")

        # 3. Changed while stopped: reset at start.
        d.stop()
        with open(v_file, "w") as f:
            f.write(V_SQL.format(n=50000))
        d = Daemon(a.binary, work, config, "views", DATA)
        wait(lambda: caught_up(d), "v_live to recompute after a restart", 120)
        check(sum(c["operation"] == "VIEW RESET" for c in history(d)) == 2, "no reset at start")
        check_answer(d, 50000, "after a restart with a changed statement")
        d.stop()
        print("views reload: a changed statement resets the view (reload and start), other columns are refused")
    finally:
        d.kill()


if __name__ == "__main__":
    main()
