"""Helpers shared by the Python end-to-end tests (and bench/console_page.py): failing with the
daemon's log tail, waiting on a condition with a deadline, a free port, `pinstream sql`'s rows and
comparing them as multisets, a shipped example's config with a listener and a run of it
(`Example`), driving `pinstream kafka-mock`, a daemon on a free port, and headless Chromium."""
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

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


# PINSTREAM_E2E_FAIL_IN_WAIT=N: the N-th call of wait() fails at once (no_leftover_daemon.py
# checks with it that a test stops its daemons when it fails).
_waits = 0


def wait(cond, what, timeout=90, interval=0.1):
    """Polls cond() until it is true; fails the test after `timeout` seconds."""
    global _waits
    _waits += 1
    if str(_waits) == os.environ.get("PINSTREAM_E2E_FAIL_IN_WAIT"):
        fail(f"injected failure (PINSTREAM_E2E_FAIL_IN_WAIT={_waits}) waiting for {what}")
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}")
        time.sleep(interval)


def sql_rows(binary, data_dir, statement):
    """The rows of `pinstream sql -d DATA_DIR --format jsonl STATEMENT` (dicts), None when it
    fails (the table is not there yet, ...)."""
    r = subprocess.run([binary, "sql", "-d", data_dir, "--format", "jsonl", statement],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def canon(rows):
    """Rows as a sorted list of canonical JSON strings: equal lists = equal multisets of rows."""
    return sorted(json.dumps(r, sort_keys=True) for r in (rows or []))


def differences(got, want, n=3):
    """What tells two canon() lists apart: up to n rows missing from got and n extra in it."""
    g, w = set(got), set(want)
    return f"missing {[r for r in want if r not in g][:n]}, extra {[r for r in got if r not in w][:n]}"


def example_config(path, work):
    """A copy of a shipped config (conf/examples/...) in `work` with an HTTP listener on
    ${PINSTREAM_LISTEN} (the port Daemon gives it), for the progress API."""
    config = os.path.join(work, os.path.basename(path))
    with open(path) as src, open(config, "w") as dst:
        dst.write(src.read() + "\nhttp: {listen: \"${PINSTREAM_LISTEN}\"}\n")
    return config


class Example:
    """A shipped example (conf/examples/...) run by daemons on copies of bundled data files, as a
    context manager: a work dir with the files in `inp` (the example reads ${PINSTREAM_INPUT}),
    the config with a listener, `sql` and `count` against the data dir of the daemon last started
    (`start(name)` gives it `work/NAME-data`); on exit every daemon it started is killed if it
    still runs (a failed check exits through SystemExit) and the work dir is removed."""

    def __init__(self, binary, config, data_set, files, prefix):
        global work_dir
        self.binary, self.data_set = binary, data_set
        self.work = work_dir = tempfile.mkdtemp(prefix=prefix)
        self.inp = os.path.join(self.work, "in")
        os.makedirs(self.inp)
        for f in files:
            shutil.copy(os.path.join(data_set, f), self.inp)
        self.config = example_config(config, self.work)
        self.data_dir = None
        self.daemons = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for d in self.daemons:
            d.kill()
        shutil.rmtree(self.work, ignore_errors=True)
        return False

    def start(self, name):
        """A daemon on the example with data dir work/NAME-data (sql and count read it after)."""
        self.data_dir = f"{self.work}/{name}-data"
        d = Daemon(self.binary, self.work, self.config, name, self.data_set,
                   {"PINSTREAM_INPUT": self.inp})
        self.daemons.append(d)
        return d

    def sql(self, statement):
        return sql_rows(self.binary, self.data_dir, statement)

    def count(self, table):
        """count(*) of a table (or a parenthesized query), -1 while it cannot be read."""
        rows = self.sql(f"SELECT count(*) AS n FROM {table}")
        return rows[0]["n"] if rows else -1


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


def check(cond, msg):
    if not cond:
        fail(msg)


def without_views(config_text):
    """A config's text without its `views:` section (conf/pinterest.yaml ships the eight analysis
    queries as views), for a test that writes its own: YAML keeps the first of two `views:` keys."""
    return re.sub(r"(?m)^views:[ \t]*\n(?:(?:[ \t#].*)?\n)*", "", config_text)


def serve_page(work, name, html):
    """Serves one page, `html`, at http://127.0.0.1:PORT/index.html from a static server in a
    thread (another origin than a daemon's); returns the server (call shutdown()) and PORT."""
    site = os.path.join(work, name)
    os.makedirs(site, exist_ok=True)
    with open(os.path.join(site, "index.html"), "w") as f:
        f.write(html)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kw):
            super().__init__(*args, directory=site, **kw)

        def log_message(self, *args):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


class Daemon:
    """`pinstream run CONFIG` on a free port with a data dir of its own under `work` (its output
    in work/log.txt) and `env` added to its environment, ready when constructed; requests to its
    HTTP API."""

    def __init__(self, binary, work, config, name, data_set, env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, PINSTREAM_DATA_DIR=f"{work}/{name}-data",
                        PINSTREAM_LISTEN=f"127.0.0.1:{self.port}", PIN_USER_ID="e2e", PINSTREAM_DATA=data_set,
                        **(env or {}))
        self.log = open(f"{work}/log.txt", "ab")
        self.p = subprocess.Popen([binary, "run", config], env=self.env, stdout=self.log, stderr=self.log)
        try:
            wait(lambda: self.p.poll() is not None or self.status("/ready") == 200, "the daemon to be ready",
                 60)
            check(self.p.poll() is None, f"daemon exited {self.p.returncode}")
        except BaseException:  # never ready: no caller holds it to stop it
            self.kill()
            raise

    def request(self, path, method="GET", headers=None, token=None):
        """(status, body); status 0 when the daemon cannot be reached."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        req = urllib.request.Request(self.base + path, method=method, headers=h,
                                     data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError:
            return 0, b""

    def status(self, path, **kw):
        return self.request(path, **kw)[0]

    def json(self, path, token=None):
        code, body = self.request(path, token=token)
        check(code == 200, f"GET {path}: HTTP {code} {body[:300]!r}")
        return json.loads(body)

    def views_caught_up(self):
        """Every live view has committed a batch over its input tables' latest versions (a view's
        backlog reads 0: it reads tables, not a log). A view's /queries/<v>/state committedOffsets
        end at (version + 1) << 32 per input table once it consumed that table's latest version."""
        for q in self.json("/queries"):
            if "view" not in q:
                continue
            code, body = self.request(f"/queries/{q['name']}/state")
            if code != 200:
                return False
            ends = {t: int(end) >> 32 for parts in json.loads(body)["committedOffsets"].values()
                    for t, end in parts.items()}
            if not ends:
                return False
            for table, consumed in ends.items():
                code, body = self.request(f"/tables/{table}")
                if code != 200 or json.loads(body).get("version", -1) + 1 != consumed:
                    return False
        return True

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()

    def kill(self):
        """SIGKILL if it still runs (a failed test's clean-up)."""
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


class Browser:
    """Headless Chromium (Debian's chromium and chromium-driver, through python3-selenium) with a
    fresh profile under `work`, a 1440x900 viewport, keeping its console log."""

    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage"]

    def __init__(self, work, width=1440, height=900):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for flag in self.FLAGS + [f"--user-data-dir={tempfile.mkdtemp(dir=work, prefix='chromium-')}",
                                  f"--window-size={width},{height}"]:
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        self.d.set_page_load_timeout(30)
        self.go("about:blank")
        self.resize(width, height)

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def wait_js(self, expr, what, timeout=30):
        """Waits until the JavaScript expression is truthy; returns its value."""
        box = {}

        def ok():
            try:
                box["v"] = self.js("return (" + expr + ");")
            except Exception:  # the page is changing under us (navigation): try again
                return False
            return bool(box["v"])
        wait(ok, what, timeout, interval=0.2)
        return box["v"]

    def go(self, url):
        self.d.get(url)

    def resize(self, width, height):
        """A width x height viewport (device metrics emulation: a headless window's size includes
        browser chrome, and a window is at least 500 px wide)."""
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.wait_js(f"window.innerWidth === {width} && window.innerHeight === {height}",
                     f"a {width}x{height} viewport", 10)
        # Two animation frames: what listens to the resize (the charts) has redrawn.
        self.d.execute_async_script(
            "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));")

    def screenshot(self, path, full=False):
        """The viewport, or the whole page (the viewport grown to the page's height, at most 6000)."""
        w = self.js("return window.innerWidth;")
        h = self.js("return window.innerHeight;")
        if full:
            self.resize(w, max(h, min(self.js("return document.documentElement.scrollHeight;"), 6000)))
        self.d.save_screenshot(path)
        if full:
            self.resize(w, h)
        print("screenshot", path)

    def log(self):
        """The console entries logged since the last call."""
        return self.d.get_log("browser")

    def quit(self):
        self.d.quit()
