"""Helpers shared by the Python end-to-end tests: failing with the daemon's log tail, waiting on a
condition with a deadline, a free port, and driving `pinstream kafka-mock`."""
import signal
import socket
import subprocess
import sys
import time

# The work directory whose log.txt fail() prints; a test sets it once it has one.
work_dir = None


def fail(msg, log_lines=80):
    print("FAIL: " + msg, file=sys.stderr)
    if work_dir:
        try:
            tail = open(f"{work_dir}/log.txt", errors="replace").readlines()[-log_lines:]
            print("---- last log lines ----\n" + "".join(tail), file=sys.stderr)
        except OSError:
            pass
    sys.exit(1)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (for a daemon's http.listen)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait(cond, what, timeout=90, interval=0.1):
    """Polls cond() until it is true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}")
        time.sleep(interval)


class KafkaMock:
    """`pinstream kafka-mock` as a child process: its bootstrap address, and its stdin commands
    (broker down/up) answered with "ok"."""

    def __init__(self, binary, log, *args):
        self.p = subprocess.Popen([binary, "kafka-mock", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=log, text=True, bufsize=1)
        line = self.p.stdout.readline()
        if not line.startswith("bootstrap.servers="):
            fail(f"kafka-mock printed {line!r}")
        self.servers = line.strip().split("=", 1)[1]

    def command(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline().strip()
        if answer != "ok":
            fail(f"kafka-mock {cmd}: {answer}")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=30)
