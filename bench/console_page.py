#!/usr/bin/env python3
"""The console overview's weight and time to first render, measured in headless Chromium
(bench/run_benchmarks.sh console).

The daemon runs conf/pinterest.yaml on a free port with posts sent by `pinstream emulate`; the
overview is then loaded N times in a fresh browser profile each (cold cache) and N times reloaded
in one profile (warm: the assets revalidate with 304). Reported from the browser's own timing
(Navigation Timing, Resource Timing, Paint Timing):

  console_overview_transfer_bytes_cold   bytes over the wire: the page and every asset and API answer
  console_overview_transfer_bytes_warm   the same on a reload (unchanged assets answer 304)
  console_overview_decoded_bytes         the same, decoded (what the browser parses)
  console_fcp_ms_cold                    first contentful paint (median of N)
  console_first_data_ms_cold             until the page first shows the daemon's data (median of N)

Beside them, in the same run and browser: a one-line HTML page from a local static server (the
browser's own floor for first contentful paint here), and the chart library's own bytes (the
floor of a page that draws its charts with it).

  bench/console_page.py --binary build/app/pinstream [--loads 5] [--posts 400]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, ".."))
DATA = os.path.abspath(os.path.join(ROOT, "tests", "data", "pinterest"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from e2e_util import Browser, Daemon, check, serve_page, wait  # noqa: E402

TIMING = """
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const data = performance.getEntriesByName('pinstream:first-data')[0];
  return {transfer: nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0),
          decoded: nav.decodedBodySize + res.reduce((a, r) => a + r.decodedBodySize, 0),
          dygraphs: res.filter(r => r.name.includes('dygraph')).reduce((a, r) => a + r.transferSize, 0),
          fcp: fcp ? fcp.startTime : null, data: data ? data.startTime : null};"""


def load(b, url, marker):
    b.go(url)
    b.wait_js(marker, "the page to render")
    return b.js(TIMING)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--posts", type=int, default=400)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pinstream-console-bench-")
    daemon = Daemon(a.binary, work, os.path.join(ROOT, "conf", "pinterest.yaml"), "bench", DATA)
    try:
        emu = subprocess.run([a.binary, "emulate", "--base-url", daemon.base, "--mode", "both", "--posts",
                              str(a.posts), "--rate", "400", "-q"], env=daemon.env, capture_output=True, text=True)
        check(emu.returncode == 0, f"emulator: {emu.stderr}")
        wait(lambda: all(q["backlogRecords"] == 0 and q["batchesCommitted"] > 0 for q in daemon.json("/queries")),
             "the queries to commit", 90)
        overview = daemon.base + "/"
        ready = "performance.getEntriesByName('pinstream:first-data').length > 0"
        cold = []
        for _ in range(a.loads):
            b = Browser(work)
            cold.append(load(b, overview, ready))
            b.quit()
        b = Browser(work)
        load(b, overview, ready)
        warm = [load(b, overview, ready) for _ in range(a.loads)]

        # The floor: a one-line page from a static server, in the same browser.
        srv, port = serve_page(work, "floor", '<!doctype html><link rel="icon" href="data:,"><p>pinstream</p>')
        floor = []
        for _ in range(a.loads):
            fb = Browser(work)
            floor.append(load(fb, f"http://127.0.0.1:{port}/index.html",
                              "performance.getEntriesByName('first-contentful-paint').length > 0"))
            fb.quit()
        srv.shutdown()
        b.quit()
    finally:
        daemon.stop()

    def med(rows, k):
        return statistics.median(r[k] for r in rows)
    print(f"RESULT console_overview_transfer_bytes_cold {med(cold, 'transfer'):.0f} B")
    print(f"RESULT console_overview_transfer_bytes_warm {med(warm, 'transfer'):.0f} B")
    print(f"RESULT console_overview_decoded_bytes {med(cold, 'decoded'):.0f} B")
    print(f"RESULT console_dygraphs_transfer_bytes {med(cold, 'dygraphs'):.0f} B")
    print(f"RESULT console_fcp_ms_cold {med(cold, 'fcp'):.0f} ms")
    print(f"RESULT console_first_data_ms_cold {med(cold, 'data'):.0f} ms")
    print(f"RESULT console_fcp_ms_warm {med(warm, 'fcp'):.0f} ms")
    print(f"RESULT console_first_data_ms_warm {med(warm, 'data'):.0f} ms")
    print(f"RESULT static_page_fcp_ms {med(floor, 'fcp'):.0f} ms")
    print(f"RESULT console_first_data_vs_static_page_fcp_ratio {med(cold, 'data') / med(floor, 'fcp'):.2f} x")


if __name__ == "__main__":
    main()
