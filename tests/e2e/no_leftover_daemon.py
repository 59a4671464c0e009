#!/usr/bin/env python3
"""Runs an e2e test script made to fail while its daemon runs (PINSTREAM_E2E_FAIL_IN_WAIT=N:
e2e_util.wait's N-th call fails) and checks that it failed and left no daemon behind: no process
is left whose command line or environment names the fresh TMPDIR the script's work dirs are
made in.

    no_leftover_daemon.py --fail-in-wait 2 -- SCRIPT ARGS...
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile


def processes_under(tmp):
    """PIDs of processes whose command line or environment mentions `tmp`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:  # gone, or not ours
            continue
        if tmp.encode() in cmd or tmp.encode() in env:
            found.append((int(pid), cmd.replace(b"\0", b" ").decode(errors="replace")))
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fail-in-wait", required=True)
    ap.add_argument("script", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    script = a.script[1:] if a.script[:1] == ["--"] else a.script
    tmp = tempfile.mkdtemp(prefix="pinstream-leftover-")
    env = dict(os.environ, TMPDIR=tmp, PINSTREAM_E2E_FAIL_IN_WAIT=a.fail_in_wait)
    r = subprocess.run([sys.executable, *script], env=env, capture_output=True, text=True,
                       timeout=240)
    ok = True
    if r.returncode == 0 or "injected failure" not in r.stderr:
        print(f"FAIL: the script did not fail as injected (exit {r.returncode}):\n{r.stderr[-2000:]}")
        ok = False
    # A daemon the script did not stop still runs (a stopped one is gone: the script waited for
    # it before exiting).
    for pid, cmd in processes_under(tmp):
        print(f"FAIL: left running after the script failed: pid {pid}: {cmd}")
        os.kill(pid, signal.SIGKILL)
        ok = False
    shutil.rmtree(tmp, ignore_errors=True)
    if not ok:
        sys.exit(1)
    print(f"OK: {os.path.basename(script[0])} failed as injected ({r.stderr.strip().splitlines()[0]}) "
          "and left no daemon running")


if __name__ == "__main__":
    main()
