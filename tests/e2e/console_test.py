#!/usr/bin/env python3
"""The web console in a real browser (label e2e): conf/pinterest.yaml on a free port, posts sent by
`pinstream emulate` (some of them bad, for the dead letters), and headless Chromium driven through
Selenium (Debian's chromium, chromium-driver and python3-selenium):

- every page renders the expected query, table and job names, and its numbers agree with the JSON
  endpoints the page reads (/queries, /ingest, /store, /tables, /jobs, /deadletters);
- the charts have data points; the latest progress report is shown;
- "Run now" on the Jobs page triggers a run of the analysis job, which then appears with its
  status; a cross-site form POST (from another origin, in the same browser) runs nothing;
- layout: nothing overflows a narrow (400 px) window;
- the browser's console log has no error;
- with http.auth configured: the page asks for the token, the API answers 401 without it, a POST
  with the token but without the console's header is refused (403), and signing in with the
  token shows the overview.

Screenshots (1440x900 and 400 px wide, viewport and full page) and the overview's page weight go
to --artifacts (build/test-artifacts/console under ctest).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DATA = os.path.abspath(os.path.join(ROOT, "tests", "data", "pinterest"))
sys.path.insert(0, HERE)
import e2e_util  # noqa: E402
from e2e_util import Browser, Daemon, check, serve_page, wait  # noqa: E402

# conf/pinterest.yaml's six queries and its live views (one query per view table, q3.sql's two
# statements two tables).
QUERIES = ["pin_raw", "geo_raw", "user_raw", "pin", "geo", "user", "q1_live", "q2_live", "q3_live_a",
           "q3_live_b", "q4_live", "q5_live", "q6_live", "q7_live", "q8_live"]
TOKEN = "e2e-console-token"
# The analysis job's daily time, 12 hours away: the only runs are the ones the test starts.
JOB_AT = {"PIN_ANALYSIS_AT": time.strftime("%H:%M", time.gmtime(time.time() + 12 * 3600))}


def cells(b, selector, key):
    """{row key → data-v} of the cells data-k=key in the rows matching selector."""
    return b.js("""
      const out = {};
      for (const tr of document.querySelectorAll(arguments[0])) {
        const td = tr.querySelector('[data-k="' + arguments[1] + '"]');
        const id = tr.dataset.query || tr.dataset.table || tr.dataset.api || tr.dataset.job || tr.dataset.run;
        if (td) out[id] = td.dataset.v;
      }
      return out;""", selector, key)


def chart_rows(b, name):
    return b.js("const g = window.pinstreamCharts[arguments[0]]; return g ? g.numRows() : 0;", name)


def no_horizontal_overflow(b, page):
    over = b.js("return document.documentElement.scrollWidth - window.innerWidth;")
    check(over <= 1, f"{page}: the page is {over}px wider than a {b.js('return window.innerWidth;')}px window")


def check_console_clean(b, what):
    errors = [e for e in b.log() if e.get("level") == "SEVERE"]
    check(not errors, f"browser console errors ({what}): {errors}")


def page_weight(b):
    """Bytes the overview transferred (document and every resource) and its paint timings."""
    return b.js("""
      const nav = performance.getEntriesByType('navigation')[0];
      const res = performance.getEntriesByType('resource');
      const paint = {};
      for (const p of performance.getEntriesByType('paint')) paint[p.name] = p.startTime;
      const data = performance.getEntriesByName('pinstream:first-data')[0];
      return {document: nav.transferSize, decoded: nav.decodedBodySize,
              resources: res.map(r => ({name: r.name.replace(location.origin, ''), transfer: r.transferSize,
                                        decoded: r.decodedBodySize})),
              firstContentfulPaintMs: paint['first-contentful-paint'],
              firstDataMs: data ? data.startTime : null};""")


def serve_cross_site_form(work, target):
    """A page of another site (localhost, not 127.0.0.1) that POSTs a form to `target`."""
    srv, port = serve_page(work, "evil", f"""<!doctype html><title>evil</title><link rel="icon" href="data:,">
<form id="f" method="POST" action="{target}"><input name="x" value="1"></form>
<script>document.getElementById('f').submit();</script>""")
    return srv, f"http://localhost:{port}/index.html"


def auth_config(work):
    """conf/pinterest.yaml with a bearer token required (and the job's SQL files found)."""
    text = open(os.path.join(ROOT, "conf", "pinterest.yaml")).read()
    text = text.replace("\nhttp:\n", f"\nhttp:\n  auth: {{bearer_tokens: [\"{TOKEN}\"]}}\n", 1)
    text = text.replace("queries/q", os.path.join(ROOT, "conf", "queries", "q"))
    path = os.path.join(work, "pinterest-auth.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--artifacts", required=True)
    ap.add_argument("--posts", type=int, default=400)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pinstream-console-")
    e2e_util.work_dir = work
    art = a.artifacts
    shutil.rmtree(art, ignore_errors=True)
    os.makedirs(art)
    daemon = Daemon(a.binary, work, os.path.join(ROOT, "conf", "pinterest.yaml"), "main", DATA, JOB_AT)
    browser = None
    try:
        # ---- data: posts through both APIs, some of them bad (dead letters) -----------------
        emu = subprocess.run([a.binary, "emulate", "--base-url", daemon.base, "--mode", "both", "--posts", str(a.posts),
                              "--rate", "200", "--concurrency", "2", "--bad-fraction", "0.05", "-q"],
                             env=daemon.env, capture_output=True, text=True, timeout=180)
        check(emu.returncode == 0, f"emulator failed: {emu.stdout} {emu.stderr}")

        def settled():
            qs = daemon.json("/queries")
            return (len(qs) == len(QUERIES) and all(q["backlogRecords"] == 0 and q["batchesCommitted"] > 0 for q in qs)
                    and daemon.views_caught_up())
        wait(settled, "every query to commit what was sent", 90)
        check(sum(q["deadLetterRows"] for q in daemon.json("/queries")) > 0, "the bad posts made no dead letters")

        browser = b = Browser(work)

        # ---- overview -------------------------------------------------------------------------
        b.go(daemon.base + "/")
        b.wait_js("document.querySelectorAll('tr[data-query]').length === %d" % len(QUERIES), "the queries table")
        b.wait_js("window.pinstreamCharts.ingest && window.pinstreamCharts.ingest.numRows() > 0", "the ingest chart")
        queries = {q["name"]: q for q in daemon.json("/queries")}
        check(sorted(b.js("return [...document.querySelectorAll('tr[data-query]')].map(t => t.dataset.query);")) == sorted(QUERIES),
              "the overview lists every query")
        for key, field in [("Batches", "batchesCommitted"), ("Dead letters", "deadLetterRows"), ("Backlog", "backlogRecords")]:
            shown = cells(b, "tr[data-query]", key)
            for name, q in queries.items():
                check(shown.get(name) == str(q[field]), f"overview {key} of {name}: page {shown.get(name)}, /queries {q[field]}")
        text = b.js("return document.querySelector('table.queries').innerText;")
        for unit in ["rows/s", " ms", "records", "rows"]:
            check(unit in text, f"the queries table shows no '{unit}': {text[:400]}")
        ingest = daemon.json("/ingest")
        acked = cells(b, "tr[data-api]", "Records acked")
        for api in ingest["apis"]:
            check(acked.get(api["api"]) == str(api["records"]), f"records acked by {api['api']}: page {acked}, /ingest {api}")
        check(ingest["apis"][0]["records"] > 0 and ingest["apis"][1]["records"] + ingest["apis"][2]["records"] > 0,
              "both APIs acknowledged records")
        check(b.js("return document.querySelector('[data-k=\"store-status\"]').dataset.v;") == daemon.json("/store")["status"] == "OK",
              "the store's status")
        weight = page_weight(b)
        b.screenshot(f"{art}/overview-1440.png")
        b.screenshot(f"{art}/overview-1440-full.png", full=True)
        check_console_clean(b, "overview")

        # ---- a query's page ----------------------------------------------------------------
        b.js("location.hash = '#/query/pin';")
        b.wait_js("document.querySelector('#progress-json') && document.querySelector('#progress-json').textContent.includes('\"name\": \"pin\"')",
                  "pin's latest progress")
        for chart in ["rates", "durations", "rows", "latency", "deadletters", "state"]:
            b.wait_js(f"window.pinstreamCharts['{chart}'] && window.pinstreamCharts['{chart}'].numRows() > 0", f"data in the {chart} chart")
        q = daemon.json("/queries/pin")
        shown = b.js("return document.querySelector('.kpi-value[data-k=\"batches\"]').dataset.v;")
        check(shown == str(q["batchesCommitted"]), f"pin's batches: page {shown}, /queries/pin {q['batchesCommitted']}")
        hist = daemon.json("/queries/pin/history")
        check(chart_rows(b, "rows") >= len(hist["points"]), f"rows chart {chart_rows(b, 'rows')} < {len(hist['points'])} points")
        check("dedup rows" in b.js("return window.pinstreamCharts.state.getLabels().join(',');"), "pin's dedup state is charted")
        b.screenshot(f"{art}/query-pin-1440.png")
        b.screenshot(f"{art}/query-pin-1440-full.png", full=True)

        # ---- tables ---------------------------------------------------------------------------
        b.js("location.hash = '#/tables';")
        b.wait_js("document.querySelectorAll('tr[data-table]').length > 0", "the tables list")
        tables = {t["name"]: t for t in daemon.json("/tables")}
        for t in ["pin", "geo", "user", "pin_raw", "geo_raw", "user_raw"]:
            check(t in tables, f"/tables has no {t}")
        b.wait_js("document.querySelectorAll('tr[data-table]').length === %d" % len(tables), "every table listed")
        shown = cells(b, "tr[data-table]", "Rows")
        for name, t in tables.items():
            if t["writer"] != "pinterest_analysis":  # only the job writes those, and it may run
                check(shown.get(name) == str(t["rows"]), f"rows of {name}: page {shown.get(name)}, /tables {t['rows']}")
        b.screenshot(f"{art}/tables-1440.png")
        b.js("document.querySelector('tr[data-table=\"pin\"] a').click();")
        b.wait_js("document.querySelectorAll('table.data tbody tr').length > 0", "pin's rows")
        pin = daemon.json("/tables/pin")
        check(b.js("return document.querySelector('.kpi-value[data-k=\"rows\"]').dataset.v;") == str(pin["rows"]), "pin's row count")
        schema = b.js("return [...document.querySelectorAll('table.schema tbody tr td:first-child')].map(td => td.textContent);")
        check(schema == [f["name"] for f in pin["schema"]], f"pin's schema: page {schema}")
        check(b.js("return document.querySelectorAll('tr[data-version]').length;") == min(20, pin["versions"]), "pin's history page")
        b.js("const i = document.getElementById('rows-version'); i.value = '0'; i.form.requestSubmit();")
        v0 = daemon.json("/tables/pin/rows?version=0&limit=1")
        b.wait_js("document.getElementById('rows-range').dataset.v === '%d' && document.getElementById('rows-range').textContent.includes('version 0')"
                  % v0["totalRows"], "pin's rows at version 0")
        b.screenshot(f"{art}/table-pin-1440-full.png", full=True)

        # ---- dead letters ---------------------------------------------------------------------
        b.js("location.hash = '#/deadletters';")
        b.wait_js("document.querySelectorAll('table.deadletters tbody tr').length > 0", "the dead letters")
        dl = daemon.json("/deadletters?limit=50")
        check(b.js("return document.querySelectorAll('table.deadletters tbody tr').length;") == len(dl["rows"]), "dead-letter rows")
        first = b.js("return [...document.querySelectorAll('table.deadletters tbody tr:first-child td')].map(td => td.dataset.v);")
        check(first[4] == dl["rows"][0]["reason"] and first[5] == dl["rows"][0]["position"],
              f"the newest dead letter: page {first}, /deadletters {dl['rows'][0]}")
        b.screenshot(f"{art}/deadletters-1440.png")

        # ---- jobs: a cross-site form POST runs nothing; "Run now" runs the job --------------------
        srv, evil = serve_cross_site_form(work, daemon.base + "/jobs/pinterest_analysis/run")
        b.go(evil)
        b.wait_js("document.body && document.body.innerText.includes('X-Pinstream-Client')", "the refusal of the cross-site POST")
        srv.shutdown()
        b.log()  # the refused navigation logs its 403
        check(daemon.json("/jobs/runs") == [], "a cross-site form POST started a job run")
        b.go(daemon.base + "/#/jobs")
        b.wait_js("document.querySelector('button.run-now[data-job=\"pinterest_analysis\"]:not([disabled])')", "the Run now button")
        check(b.js("return document.querySelector('tr[data-job] td[data-k=\"Next run\"]').dataset.v;") ==
              daemon.json("/jobs")[0]["nextRun"], "the job's next run")
        b.js("document.querySelector('button.run-now[data-job=\"pinterest_analysis\"]').click();")
        b.wait_js("document.querySelector('tr[data-run] td[data-k=\"status\"]') && "
                  "document.querySelector('tr[data-run] td[data-k=\"status\"]').dataset.v === 'succeeded'", "the run to succeed", 120)
        runs = daemon.json("/jobs/runs")
        check(len(runs) == 1 and runs[0]["trigger"] == "manual" and runs[0]["status"] == "succeeded", f"/jobs/runs: {runs}")
        check(b.js("return document.querySelector('tr[data-run]').dataset.run;") == runs[0]["runId"], "the run shown")
        b.wait_js("document.querySelector('tr[data-run] td[data-label=\"Results\"] a')", "the run's result tables")
        b.screenshot(f"{art}/jobs-1440.png")
        check_console_clean(b, "query, tables, dead letters, jobs")

        # ---- a narrow window -----------------------------------------------------------------
        b.resize(400, 900)
        for page, ready in [("#/", "document.querySelectorAll('tr[data-query]').length > 0"),
                            ("#/query/pin", "window.pinstreamCharts.rates && window.pinstreamCharts.rates.numRows() > 0"),
                            ("#/tables/pin", "document.querySelectorAll('table.data tbody tr').length > 0"),
                            ("#/jobs", "document.querySelector('tr[data-run]')"),
                            ("#/deadletters", "document.querySelectorAll('table.deadletters tbody tr').length > 0")]:
            b.js(f"location.hash = '{page}';")
            b.wait_js(ready, f"{page} in a narrow window")
            no_horizontal_overflow(b, page)
            name = page.strip("#/").replace("/", "-") or "overview"
            b.screenshot(f"{art}/{name}-400.png")
            if name in ("overview", "query-pin"):
                b.screenshot(f"{art}/{name}-400-full.png", full=True)
        check_console_clean(b, "narrow window")
        browser.quit()
        browser = None
        daemon.stop()

        # ---- with http.auth ------------------------------------------------------------------
        daemon = Daemon(a.binary, work, auth_config(work), "auth", DATA, JOB_AT)
        check(daemon.status("/queries") == 401, "GET /queries without the token")
        check(daemon.status("/tables") == 401, "GET /tables without the token")
        check(daemon.status("/queries", token=TOKEN) == 200, "GET /queries with the token")
        check(daemon.status("/", ) == 200, "the console's page without the token")
        code, body = daemon.request("/jobs/pinterest_analysis/run", method="POST", token=TOKEN,
                                    headers={"Origin": "http://localhost:1", "Sec-Fetch-Site": "cross-site"})
        check(code == 403, f"a cross-site POST with the token: HTTP {code} {body!r}")
        check(daemon.json("/jobs/runs", token=TOKEN) == [], "the refused POST started a run")
        browser = b = Browser(work)
        b.go(daemon.base + "/")
        b.wait_js("document.getElementById('login')", "the sign-in form")
        b.screenshot(f"{art}/signin-1440.png")
        b.log()  # the page's first requests were answered 401, as they should
        b.js("document.getElementById('token').value = arguments[0]; document.getElementById('login').requestSubmit();", TOKEN)
        b.wait_js("document.querySelectorAll('tr[data-query]').length === %d" % len(QUERIES), "the overview after signing in")
        check_console_clean(b, "after signing in")
    finally:
        if browser:
            browser.quit()
        daemon.stop()
    with open(f"{art}/overview-weight.json", "w") as f:
        json.dump(weight, f, indent=2)
    total = weight["document"] + sum(r["transfer"] for r in weight["resources"])
    print(f"overview: {total} bytes transferred (cold), first contentful paint {weight['firstContentfulPaintMs']:.0f} ms, "
          f"first data {weight['firstDataMs']:.0f} ms")
    shutil.rmtree(work, ignore_errors=True)
    print("PASS console")


if __name__ == "__main__":
    main()
