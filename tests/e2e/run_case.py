#!/usr/bin/env python3
"""Runs one end-to-end case: tests/e2e/<case>/case.json drives the pinstream binary.

A case directory holds:
  case.json      steps and expectations (format below)
  pipeline.yaml  the daemon config; ${PINSTREAM_WORK} is the case's fresh work directory
  input/...      files the steps copy into the work directory
  expected/...   expected outputs (JSON Lines)

case.json:
  {"steps": [
     {"copy": "input/a", "to": "in"}          copy files (atomically: hidden name, then rename)
     {"run": {"expect_exit": 0}}              run the daemon to completion
     {"start": {}}                            start it in the background, wait for "pinstream ready"
     {"wait_table": {"table": "t", "rows": 5}} poll `pinstream scan` until the table has N rows
     {"wait_jsonl": {"dir": "out/x", "rows": 5}}  poll a JSON Lines sink directory
     {"signal": "TERM", "expect_exit": 0}     signal the background daemon and wait for it
     {"kill9": {}}                            kill -9 the background daemon
     {"cli": ["tables"], "expect_exit": 0, "stdout_contains": ["..."]}   run a CLI command
   ],
   "expect": [
     {"jsonl_dir": "out/x", "file": "expected/x.jsonl", "ignore": ["failed_at"]},
     {"table": "t", "file": "expected/t.jsonl", "version": 3}
   ]}
Every wait has a deadline (default 60 s); nothing sleeps and hopes.
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


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


class Case:
    def __init__(self, binary, case_dir):
        self.binary = binary
        self.case_dir = case_dir
        self.work = tempfile.mkdtemp(prefix="pinstream-e2e-")
        self.env = dict(os.environ, PINSTREAM_WORK=self.work)
        self.proc = None
        self.log = open(os.path.join(self.work, "daemon.log"), "ab")
        with open(os.path.join(case_dir, "case.json")) as f:
            self.spec = json.load(f)
        self.config = os.path.join(case_dir, self.spec.get("config", "pipeline.yaml"))

    def cli(self, *args, check=True):
        r = subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            fail(f"pinstream {' '.join(args)} exited {r.returncode}: {r.stderr}")
        return r

    def data_args(self):
        return ["--config", self.config]

    def table_rows(self, table, version=None):
        args = ["scan", table, "--format", "jsonl", *self.data_args()]
        if version is not None:
            args += ["--version", str(version)]
        r = self.cli(*args, check=False)
        if r.returncode != 0:
            return None
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def jsonl_rows(self, d):
        path = os.path.join(self.work, d)
        rows = []
        if not os.path.isdir(path):
            return rows
        for name in sorted(os.listdir(path)):
            if name.startswith(".") or not name.endswith(".jsonl"):
                continue
            with open(os.path.join(path, name)) as f:
                rows += [json.loads(l) for l in f if l.strip()]
        return rows

    def wait(self, what, cond, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            if self.proc is not None and self.proc.poll() is not None:
                fail(f"daemon exited ({self.proc.returncode}) while waiting for {what}; log: {self.tail_log()}")
            time.sleep(0.02)  # poll interval
        fail(f"timed out after {timeout}s waiting for {what}; log: {self.tail_log()}")

    def tail_log(self, full=False):
        self.log.flush()
        with open(os.path.join(self.work, "daemon.log"), "rb") as f:
            data = f.read()
        return data.decode(errors="replace") if full else data[-3000:].decode(errors="replace")

    def step(self, s):
        if "copy" in s:
            src = os.path.join(self.case_dir, s["copy"])
            dst = os.path.join(self.work, s["to"])
            os.makedirs(dst, exist_ok=True)
            names = sorted(os.listdir(src)) if os.path.isdir(src) else [os.path.basename(src)]
            base = src if os.path.isdir(src) else os.path.dirname(src)
            for n in names:
                tmp = os.path.join(dst, "." + n + ".tmp")
                shutil.copyfile(os.path.join(base, n), tmp)
                os.rename(tmp, os.path.join(dst, n))
        elif "run" in s:
            opts = s["run"]
            r = subprocess.run([self.binary, "run", self.config], env=self.env, stdout=self.log, stderr=self.log,
                               timeout=opts.get("timeout", 120))
            if r.returncode != opts.get("expect_exit", 0):
                fail(f"run exited {r.returncode}, expected {opts.get('expect_exit', 0)}; log: {self.tail_log()}")
        elif "start" in s:
            env = dict(self.env, **s["start"].get("env", {}))
            ready_before = self.tail_log(full=True).count("pinstream ready")
            self.proc = subprocess.Popen([self.binary, "run", self.config], env=env, stdout=self.log, stderr=self.log)
            if s["start"].get("wait_ready", True):
                self.wait("the daemon to be ready",
                          lambda: self.tail_log(full=True).count("pinstream ready") > ready_before, 60)
        elif "wait_table" in s:
            w = s["wait_table"]
            self.wait(f"table {w['table']} to hold {w['rows']} rows",
                      lambda: (self.table_rows(w["table"]) or []).__len__() >= w["rows"], w.get("timeout", 60))
        elif "wait_jsonl" in s:
            w = s["wait_jsonl"]
            self.wait(f"{w['dir']} to hold {w['rows']} rows", lambda: len(self.jsonl_rows(w["dir"])) >= w["rows"],
                      w.get("timeout", 60))
        elif "signal" in s:
            self.proc.send_signal(getattr(signal, "SIG" + s["signal"]))
            try:
                rc = self.proc.wait(timeout=s.get("timeout", 60))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                fail(f"daemon did not exit within {s.get('timeout', 60)}s of SIG{s['signal']}")
            if rc != s.get("expect_exit", 0):
                fail(f"daemon exited {rc} after SIG{s['signal']}; log: {self.tail_log()}")
            self.proc = None
        elif "kill9" in s:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        elif "cli" in s:
            args = [a.replace("${PINSTREAM_WORK}", self.work) for a in s["cli"]]
            r = self.cli(*args, *(self.data_args() if s.get("data", True) else []), check=False)
            if r.returncode != s.get("expect_exit", 0):
                fail(f"pinstream {s['cli']} exited {r.returncode}: {r.stdout} {r.stderr}")
            for want in s.get("stdout_contains", []):
                if want not in r.stdout:
                    fail(f"pinstream {s['cli']} output lacks {want!r}:\n{r.stdout}")
            for want in s.get("stderr_contains", []):
                if want not in r.stderr:
                    fail(f"pinstream {s['cli']} stderr lacks {want!r}:\n{r.stderr}")
        else:
            fail(f"unknown step {s}")

    def check(self, e):
        with open(os.path.join(self.case_dir, e["file"])) as f:
            want = [json.loads(l) for l in f if l.strip()]
        if "jsonl_dir" in e:
            got = self.jsonl_rows(e["jsonl_dir"])
            what = e["jsonl_dir"]
        else:
            got = self.table_rows(e["table"], e.get("version"))
            what = f"table {e['table']}"
            if got is None:
                fail(f"{what} cannot be read")
        for r in got:
            for k in e.get("ignore", []):
                r.pop(k, None)
        if e.get("sort"):
            key = lambda r: json.dumps(r, sort_keys=True)
            got, want = sorted(got, key=key), sorted(want, key=key)
        if got != want:
            lines = [f"{what}: {len(got)} rows, expected {len(want)}"]
            for i, (g, w) in enumerate(zip(got, want)):
                if g != w:
                    lines.append(f"first difference at row {i}:\n  got  {g}\n  want {w}")
                    break
            fail("\n".join(lines))

    def run(self):
        try:
            for s in self.spec["steps"]:
                self.step(s)
            for e in self.spec.get("expect", []):
                self.check(e)
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        print(f"PASS {os.path.basename(self.case_dir)}")
        shutil.rmtree(self.work, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("case")
    a = ap.parse_args()
    Case(a.binary, a.case).run()
