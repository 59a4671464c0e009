// The pinstream console: one page, plain JavaScript, reading the daemon's JSON endpoints (the same
// ones scripts use) and drawing charts with dygraphs. Pages (by URL hash):
//   #/                 overview: queries and views, ingest APIs, the store
//   #/query/NAME       a query's charts over time and its latest progress report
//   #/tables           tables; #/tables/NAME: versions, history, schema, rows at a version
//   #/jobs             scheduled jobs, their runs, "Run now"
//   #/deadletters      the newest rejected rows
// Data is polled (every 2 s on the overview and query pages, 5 s elsewhere). With http.auth
// configured, a 401 shows a sign-in form; the token stays in sessionStorage and goes out as
// "Authorization: Bearer" (or x-api-key). Requests that change something carry the header
// X-Pinstream-Client, which the daemon requires of them.
"use strict";

(function () {
  const main = document.getElementById("main");
  const TOKEN_KEY = "pinstream.token";
  const TOKEN_KIND_KEY = "pinstream.tokenKind";
  // Charts of the current page by id (the e2e test reads their data through this).
  window.pinstreamCharts = {};
  let page = null;  // {refresh(), period}
  let timer = null;
  let generation = 0;  // bumps on every navigation: late answers of an old page are dropped

  // ---- formatting: every number with its unit ---------------------------------------------
  const intFmt = new Intl.NumberFormat("en-US", {maximumFractionDigits: 0});
  function num(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    const d = digits !== undefined ? digits : (Math.abs(v) >= 100 || v === 0 ? 0 : Math.abs(v) >= 10 ? 1 : 2);
    return new Intl.NumberFormat("en-US", {maximumFractionDigits: d, minimumFractionDigits: 0}).format(v);
  }
  function withUnit(v, unit, digits) {
    return v === null || v === undefined ? "–" : num(v, digits) + " " + unit;
  }
  const rows = (v) => withUnit(v, v === 1 ? "row" : "rows", 0);
  const rate = (v, unit) => withUnit(v, unit || "rows/s");
  function ms(v) {
    if (v === null || v === undefined) return "–";
    return Math.abs(v) >= 10000 ? num(v / 1000, 1) + " s" : num(v, v >= 10 ? 0 : 1) + " ms";
  }
  function bytes(v) {
    if (v === null || v === undefined) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return num(v, i === 0 ? 0 : 1) + " " + units[i];
  }
  function ago(iso) {
    if (!iso) return "–";
    const s = (Date.now() - Date.parse(iso)) / 1000;
    if (s < 0) return "in " + duration(-s);
    return duration(s) + " ago";
  }
  function duration(s) {
    if (s < 1) return "now";
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    if (s < 172800) return num(s / 3600, 1) + " h";
    return num(s / 86400, 1) + " d";
  }
  function time(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  // ---- DOM helpers -------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    fill(el, children, true);
    return el;
  }
  // Sets (or with `append`, adds) an element's children: nodes, text, numbers and nested arrays of
  // them; null, undefined and false are left out.
  function fill(el, children, append) {
    const nodes = [];
    for (const c of [children].flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      nodes.push(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    if (append) el.append(...nodes);
    else el.replaceChildren(...nodes);
    return el;
  }
  // A table cell carrying its raw value (data-v) for tests and its formatted text.
  function cell(key, raw, text, cls) {
    return h("td", {"data-label": key, "data-k": key, "data-v": raw === null || raw === undefined ? "" : String(raw),
                    class: ((cls || "") + (text === "" ? " blank" : "")).trim() || null}, text);
  }
  function table(cls, headers, bodyRows) {
    return h("div", {class: "table-wrap"},
             h("table", {class: cls},
               h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
               h("tbody", {}, bodyRows)));
  }
  function badge(state) {
    const s = String(state || "unknown").toLowerCase();
    const kind = {active: "ok", idle: "ok", ready: "ok", ok: "ok", succeeded: "ok", finished: "muted",
                  stopped: "muted", skipped: "muted", initializing: "warn", recovering: "warn", degraded: "warn",
                  retrying: "warn", queued: "warn", running: "info", failed: "bad", store_failed: "bad"}[s] || "muted";
    return h("span", {class: "badge " + kind}, s.replace("_", " "));
  }
  function kpi(label, value, key, raw) {
    return h("div", {class: "kpi"}, h("div", {class: "kpi-label"}, label),
             h("div", {class: "kpi-value", "data-k": key, "data-v": raw === undefined ? "" : String(raw)}, value));
  }
  function section(title, ...children) {
    return h("section", {class: "card"}, title ? h("h2", {}, title) : null, children);
  }
  function setUpdated(ok) {
    const el = document.getElementById("updated");
    el.textContent = ok ? "updated " + hms(new Date()) + " UTC" : "update failed";
    el.className = ok ? "muted small" : "small bad-text";
  }

  // ---- the API ----------------------------------------------------------------------------
  class Unauthorized extends Error {}
  function authHeaders() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return {};
    return sessionStorage.getItem(TOKEN_KIND_KEY) === "apikey" ? {"x-api-key": token}
                                                                : {"Authorization": "Bearer " + token};
  }
  async function api(path, options) {
    const opts = Object.assign({method: "GET"}, options || {});
    opts.headers = Object.assign({"Accept": "application/json"}, authHeaders(), opts.headers || {});
    if (opts.method !== "GET") opts.headers["X-Pinstream-Client"] = "console";
    opts.credentials = "omit";
    opts.cache = "no-store";
    const r = await fetch(path, opts);
    if (r.status === 401) throw new Unauthorized("the daemon wants a token");
    const text = await r.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = {error: text}; }
    if (!r.ok) {
      const err = new Error((body && (body.error || body.message)) || ("HTTP " + r.status));
      err.status = r.status;
      err.body = body;
      throw err;
    }
    return body;
  }
  // GET that answers null instead of failing for endpoints a daemon may not have (404).
  async function optional(path) {
    try { return await api(path); } catch (e) { if (e.status === 404) return null; throw e; }
  }

  // ---- sign-in ------------------------------------------------------------------------------
  function showLogin(message) {
    stopTimer();
    generation++;
    for (const a of document.querySelectorAll("#nav a")) a.classList.remove("active");
    const input = h("input", {type: "password", id: "token", name: "token", autocomplete: "off",
                              required: true, placeholder: "token"});
    const kind = h("select", {id: "token-kind"}, h("option", {value: "bearer"}, "Bearer token"),
                   h("option", {value: "apikey"}, "API key"));
    const form = h("form", {id: "login", class: "card login",
                            onsubmit: (ev) => {
                              ev.preventDefault();
                              sessionStorage.setItem(TOKEN_KEY, input.value);
                              sessionStorage.setItem(TOKEN_KIND_KEY, kind.value);
                              route();
                            }},
                   h("h2", {}, "Sign in"),
                   h("p", {class: "muted"}, message || "This daemon requires a token (http.auth). It is kept in this tab's session storage only."),
                   h("label", {for: "token"}, "Token"), input,
                   h("label", {for: "token-kind"}, "Sent as"), kind,
                   h("button", {type: "submit", class: "primary"}, "Sign in"));
    fill(main, [form]);
    input.focus();
  }
  document.getElementById("signout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(TOKEN_KIND_KEY);
    route();
  });

  // ---- charts ---------------------------------------------------------------------------------
  // A chart in `container` with dygraphs; update(data) draws (or redraws) it. `data` rows are
  // [Date, v1, v2, ...]; while there is none the chart says so (dygraphs cannot draw nothing).
  function chart(id, title, labels, unitLabel, extra, emptyText) {
    const graphDiv = h("div", {class: "chart", id: "chart-" + id});
    const legend = h("div", {class: "legend"});
    const empty = h("p", {class: "muted empty"}, emptyText || "No batch yet.");
    const box = h("div", {class: "chart-card"}, h("h3", {}, title), graphDiv, legend, empty);
    let g = null;
    return {
      el: box,
      update(data, opts) {
        if (!data.length) { empty.hidden = false; return; }
        empty.hidden = true;
        const o = Object.assign({labels: labels, file: data, drawPoints: data.length < 60}, opts || {});
        o.axes = mergeAxes(BASE_AXES, extra && extra.axes, opts && opts.axes);
        if (!g) {
          g = new Dygraph(graphDiv, data, Object.assign({
            labels: labels, ylabel: unitLabel, legend: "always", labelsDiv: legend,
            labelsSeparateLines: false, connectSeparatedPoints: false,
            strokeWidth: 1.5, includeZero: true, axisLabelFontSize: 11, rightGap: 8,
            colors: ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#64748b", "#ca8a04"],
          }, extra || {}, o));
          window.pinstreamCharts[id] = g;
        } else {
          g.updateOptions(o);
        }
      },
      destroy() { if (g) g.destroy(); },
    };
  }
  // Times on the charts' x axis and in their legends: UTC, like every time on these pages.
  const pad = (n) => String(n).padStart(2, "0");
  const hms = (d) => pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
  // Ticks between whole seconds (a short history) show their tenths, so that no two read the same.
  const tick = (d) => hms(d) + (d.getUTCMilliseconds() ? "." + Math.floor(d.getUTCMilliseconds() / 100) : "");
  // Values: 1.2k / 3.4M / 5.6B on the axes (never "m" for milli), plain numbers in the legends.
  function compact(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return num(v / 1e9, 1) + "B";
    if (a >= 1e6) return num(v / 1e6, 1) + "M";
    if (a >= 1e4) return num(v / 1e3, 0) + "k";
    if (a >= 1e3) return num(v / 1e3, 1) + "k";
    return num(v);
  }
  const BASE_AXES = {
    x: {axisLabelWidth: 64, axisLabelFormatter: tick, valueFormatter: (ms) => hms(new Date(ms)) + " UTC"},
    y: {axisLabelWidth: 50, axisLabelFormatter: (v) => compact(v), valueFormatter: (v) => num(v)},
    y2: {axisLabelWidth: 50, axisLabelFormatter: (v) => compact(v), valueFormatter: (v) => num(v)},
  };
  function mergeAxes(...all) {
    const out = {};
    for (const a of all) for (const [k, v] of Object.entries(a || {})) out[k] = Object.assign({}, out[k], v);
    return out;
  }
  // Rows of history points with null rows where batches stopped for a while (so that lines break
  // instead of suggesting a steady rate through an idle time).
  function series(points, values) {
    const out = [];
    let gap = 5000;
    if (points.length > 4) {
      const d = [];
      for (let i = 1; i < points.length; i++) d.push(points[i].endMs - points[i - 1].endMs);
      d.sort((a, b) => a - b);
      gap = Math.max(5000, 5 * d[Math.floor(d.length / 2)]);
    }
    let prev = null;
    for (const p of points) {
      if (prev && p.endMs - prev.endMs > gap) out.push([new Date(prev.endMs + 1), ...values(prev).map(() => null)]);
      out.push([new Date(p.endMs), ...values(p)]);
      prev = p;
    }
    return out;
  }

  // ---- pages ----------------------------------------------------------------------------------
  function stopTimer() { if (timer) clearInterval(timer); timer = null; }
  function destroyCharts() {
    for (const g of Object.values(window.pinstreamCharts)) g.destroy();
    window.pinstreamCharts = {};
  }
  function startPage(p) {
    page = p;
    const gen = generation;
    let busy = false;  // a slow answer: the next tick waits for it instead of piling up
    const run = async () => {
      if (busy) return;
      busy = true;
      try {
        await p.refresh(() => gen === generation);
        if (gen !== generation) return;
        setUpdated(true);
        // The first page drawn with data (bench/README: time to first render).
        if (!performance.getEntriesByName("pinstream:first-data").length) performance.mark("pinstream:first-data");
      } catch (e) {
        if (gen !== generation) return;
        if (e instanceof Unauthorized) {
          const had = sessionStorage.getItem(TOKEN_KEY);
          sessionStorage.removeItem(TOKEN_KEY);
          return showLogin(had ? "The daemon refused that token. Try another." : null);
        }
        setUpdated(false);
        p.fail && p.fail(e);
      } finally {
        busy = false;
      }
    };
    run();
    timer = setInterval(run, p.period || 5000);
  }
  function errorBox(e) { return h("div", {class: "card error"}, "Could not load: " + e.message); }

  // ---- overview -------------------------------------------------------------------------------
  function overviewPage() {
    const queriesBox = section("Queries and views");
    const ingestBox = h("div");  // redrawn on every refresh; the charts below it stay
    const storeBox = section("Store");
    const ingestChart = chart("ingest", "Ingest, last 15 minutes", ["time", "requests/s", "records/s", "refused/s"], "per second",
                              null, "No sample yet (one a second).");
    const latencyChart = chart("ack", "Acknowledgement latency, last 15 minutes", ["time", "p50 ms", "p99 ms"], "ms", null,
                               "No sample yet (one a second).");
    fill(main, [h("h1", {}, "Overview"), queriesBox,
                h("section", {class: "card"}, ingestBox, h("div", {class: "charts two"}, ingestChart.el, latencyChart.el)),
                storeBox]);
    return {
      period: 2000,
      async refresh(current) {
        const [queries, ingest, store] = await Promise.all([api("/queries"), optional("/ingest"), optional("/store")]);
        if (!current()) return;
        renderQueries(queriesBox, queries);
        renderIngest(ingestBox, ingest);
        renderStore(storeBox, store);
        if (ingest) {
          const pts = ingest.history.map((p) => ({endMs: p.timeMs, p: p}));
          ingestChart.update(series(pts, (x) => [x.p.requestsPerSecond, x.p.recordsPerSecond, x.p.refusedPerSecond]));
          latencyChart.update(series(pts, (x) => [x.p.ackP50Ms, x.p.ackP99Ms]));
        }
      },
      fail(e) { fill(queriesBox, [h("h2", {}, "Queries and views"), errorBox(e)]); },
    };
  }
  function renderQueries(box, queries) {
    const watermark = queries.some((q) => q.eventTime && q.eventTime.watermark);
    const headers = ["Query", "State", "Batches", "Input", "Processed", "Batch duration", "Ingest → visible",
                     "Backlog", "Dead letters"].concat(watermark ? ["Watermark"] : []).concat(["Last batch", "Error"]);
    const body = queries.map((q) => h("tr", {"data-query": q.name},
      h("td", {"data-label": "Query", "data-k": "name"},
        h("a", {href: "#/query/" + encodeURIComponent(q.name)}, q.name),
        q.kind && q.kind !== "query" ? h("span", {class: "tag"}, q.kind) : null),
      h("td", {"data-label": "State", "data-k": "state", "data-v": q.state}, badge(q.state)),
      cell("Batches", q.batchesCommitted, num(q.batchesCommitted, 0), "num"),
      cell("Input", q.recentInputRowsPerSecond, rate(q.recentInputRowsPerSecond), "num"),
      cell("Processed", q.processedRowsPerSecond, rate(q.processedRowsPerSecond), "num"),
      cell("Batch duration", q.batchDurationMs, ms(q.batchDurationMs), "num"),
      cell("Ingest → visible", q.ingestToVisibleMs, ms(q.ingestToVisibleMs), "num"),
      cell("Backlog", q.backlogRecords, withUnit(q.backlogRecords, "records", 0), "num"),
      cell("Dead letters", q.deadLetterRows, rows(q.deadLetterRows), "num"),
      watermark ? cell("Watermark", q.eventTime && q.eventTime.watermark, q.eventTime && q.eventTime.watermark ? time(q.eventTime.watermark) : "–") : null,
      cell("Last batch", q.lastBatchTime, ago(q.lastBatchTime)),
      cell("Error", q.error, q.error || "", q.error ? "bad-text wrap" : "")));
    fill(box, [h("h2", {}, "Queries and views ", h("span", {class: "muted small"}, "input: rows/s over the last 10 s; processed and duration: the newest batch")),
                        queries.length ? table("rt queries", headers, body) : h("p", {class: "muted"}, "No query yet (the daemon may still be recovering).")]);
  }
  function renderIngest(box, ingest) {
    if (!ingest) return fill(box, [h("h2", {}, "Ingest APIs"), h("p", {class: "muted"}, "This daemon has no HTTP ingest.")]);
    const t = ingest.total;
    const body = ingest.apis.map((a) => h("tr", {"data-api": a.api},
      h("td", {"data-label": "API"}, a.api),
      cell("Requests", a.requestsPerSecond, rate(a.requestsPerSecond, "req/s"), "num"),
      cell("Records", a.recordsPerSecond, rate(a.recordsPerSecond, "records/s"), "num"),
      cell("Refused 429/503", a.refusedPerSecond, rate(a.refusedPerSecond, "req/s"), "num" + (a.refusedPerSecond > 0 ? " bad-text" : "")),
      cell("Errors", a.errorsPerSecond, rate(a.errorsPerSecond, "req/s"), "num"),
      cell("Total requests", a.requests, withUnit(a.requests, "req", 0), "num"),
      cell("Total refused", a.refused, withUnit(a.refused, "req", 0), "num"),
      cell("Records acked", a.records, withUnit(a.records, "records", 0), "num")));
    fill(box, [
      h("h2", {}, "Ingest APIs ", h("span", {class: "muted small"}, "rates over the last " + ingest.windowSeconds + " s")),
      h("div", {class: "kpis"},
        kpi("Requests", rate(t.requestsPerSecond, "req/s"), "ingest-requests", t.requestsPerSecond),
        kpi("Records", rate(t.recordsPerSecond, "records/s"), "ingest-records", t.recordsPerSecond),
        kpi("Refused (429/503)", rate(t.refusedPerSecond, "req/s"), "ingest-refused", t.refusedPerSecond),
        kpi("Ack latency p50 / p99", ingest.ackLatencyMs.count ? ms(ingest.ackLatencyMs.p50) + " / " + ms(ingest.ackLatencyMs.p99) : "–", "ack", ingest.ackLatencyMs.p99)),
      table("rt", ["API", "Requests", "Records", "Refused 429/503", "Errors", "Total requests", "Total refused", "Records acked"], body)]);
  }
  function renderStore(box, store) {
    if (!store) return fill(box, [h("h2", {}, "Store"), h("p", {class: "muted"}, "Not available.")]);
    const b = store.bytes || {};
    const disk = (k) => (b[k] ? b[k].sstFiles : undefined);
    const memtables = Object.values(b).reduce((a, x) => a + x.memtables, 0);
    const space = store.disk || {};
    const log = store.sourceLog;
    fill(box, [
      h("h2", {}, "Store ", h("span", {"data-k": "store-status", "data-v": store.status}, badge(store.status)),
        h("span", {class: "muted small wrap"}, "data dir ", h("code", {}, store.dataDir || "–"))),
      store.error ? h("p", {class: "bad-text wrap"}, store.error) : null,
      h("div", {class: "grid-2"},
        h("div", {},
          h("div", {class: "kpis"},
            kpi("Disk free", space.freeBytes !== undefined ? bytes(space.freeBytes) + " of " + bytes(space.capacityBytes) : (space.error || "–"), "disk-free", space.freeBytes),
            kpi("Tables on disk", bytes(disk("tables")), "bytes-tables", disk("tables")),
            kpi("State on disk", bytes(disk("state")), "bytes-state", disk("state")),
            kpi("Checkpoints on disk", bytes(disk("checkpoints")), "bytes-checkpoints", disk("checkpoints")),
            kpi("Memtables", bytes(memtables), "bytes-memtables", memtables),
            log ? kpi("Source log", withUnit(log.records, "records", 0), "log-records", log.records) : null),
          h("p", {class: "muted small"}, "On disk: each key space's SST files; writes not flushed yet are in the memtables " +
            "(and the write-ahead log), so a young store shows 0 B on disk."),
          log ? h("p", {class: "muted small"}, "Source log since start: " + withUnit(log.groupCommits, "group commits", 0) + ", " +
            bytes(log.bytes) + ", " + withUnit(log.failedWrites, "failed writes", 0) + ".") : null),
        log ? table("rt compact", ["Topic / stream", "API", "Partitions", "Backlog"],
          log.streams.map((s) => h("tr", {}, h("td", {"data-label": "Topic / stream", class: "wrap"}, s.name),
            h("td", {"data-label": "API"}, s.api), cell("Partitions", s.partitions, num(s.partitions, 0), "num"),
            cell("Backlog", s.backlogRecords, withUnit(s.backlogRecords, "records", 0), "num")))) : null)]);
  }

  // ---- a query ----------------------------------------------------------------------------------
  const PARTS = ["latestOffset", "getBatch", "execution", "commitWait", "walCommit", "addBatch", "commitOffsets"];
  function queryPage(name) {
    const head = h("div", {class: "card"});
    // Log scale: processing runs orders of magnitude faster than rows arrive, and both must read.
    const rates = chart("rates", "Input vs processed (log scale)", ["time", "input rows/s", "processed rows/s"], "rows/s",
                        {logscale: true, includeZero: false});
    const durations = chart("durations", "Batch duration by part (stacked: the total is triggerExecution)",
                            ["time", ...PARTS.map((p) => p + " ms"), "waiting/other ms"], "ms", {stackedGraph: true, fillGraph: true});
    const perBatch = chart("rows", "Rows per batch", ["time", "input rows", "output rows"], "rows");
    const latency = chart("latency", "Ingest → visible (arrival to commit)", ["time", "oldest record ms", "newest record ms"], "ms",
                          null, "No batch with arrival times yet (file sources have none).");
    const dead = chart("deadletters", "Dead-letter rows per batch", ["time", "dead-letter rows"], "rows");
    // Queries with an event-time watermark: how far it trails the batches.
    const lag = chart("watermark", "Watermark delay (batch end − watermark)", ["time", "delay s"], "s");
    lag.el.hidden = true;
    const stateBox = h("div", {class: "chart-slot"});
    let state = null;
    let stateKey = "";
    const progress = h("pre", {class: "json", id: "progress-json"}, "…");
    const note = h("p", {class: "muted small"});
    fill(main, [
      h("p", {class: "crumbs"}, h("a", {href: "#/"}, "Overview"), " / ", name),
      head,
      h("div", {class: "charts"}, rates.el, durations.el, perBatch.el, latency.el, stateBox, dead.el, lag.el),
      note,
      section("Latest progress", progress)]);
    return {
      period: 2000,
      async refresh(current) {
        const [q, hist, reports] = await Promise.all([
          api("/queries/" + encodeURIComponent(name)),
          api("/queries/" + encodeURIComponent(name) + "/history"),
          api("/queries/" + encodeURIComponent(name) + "/progress")]);
        if (!current()) return;
        fill(head, [
          h("h1", {}, name, " ", h("span", {"data-k": "state", "data-v": q.state}, badge(q.state))),
          // A query failed before it started (its checkpoint unreadable) has no id or run yet.
          q.id || q.runId ? h("p", {class: "muted small wrap"},
                              [q.id ? "id " + q.id : "", q.runId ? "run " + q.runId : ""].filter(Boolean).join(" · ")) : null,
          q.error ? h("p", {class: "bad-text wrap"}, q.error) : null,
          h("div", {class: "kpis"},
            kpi("Batches", num(q.batchesCommitted, 0), "batches", q.batchesCommitted),
            kpi("Input (10 s)", rate(q.recentInputRowsPerSecond), "input-rate", q.recentInputRowsPerSecond),
            kpi("Processed (newest batch)", rate(q.processedRowsPerSecond), "processed-rate", q.processedRowsPerSecond),
            kpi("Batch duration", ms(q.batchDurationMs), "duration", q.batchDurationMs),
            kpi("Ingest → visible", ms(q.ingestToVisibleMs), "latency", q.ingestToVisibleMs),
            kpi("Backlog", withUnit(q.backlogRecords, "records", 0), "backlog", q.backlogRecords),
            kpi("Input rows", rows(q.inputRows), "input-rows", q.inputRows),
            kpi("Dead letters", rows(q.deadLetterRows), "dead-letter-rows", q.deadLetterRows),
            q.eventTime && q.eventTime.watermark ? kpi("Watermark", time(q.eventTime.watermark), "watermark", q.eventTime.watermark) : null)]);
        const pts = hist.points;
        // (a rate of 0 has no place on a log scale: a gap)
        rates.update(series(pts, (p) => [p.inputRowsPerSecond || null, p.processedRowsPerSecond || null]));
        durations.update(series(pts, (p) => {
          const parts = PARTS.map((k) => p.durationMs[k] || 0);
          const sum = parts.reduce((a, b) => a + b, 0);
          return parts.concat([Math.max(0, (p.durationMs.triggerExecution || 0) - sum)]);
        }));
        perBatch.update(series(pts, (p) => [p.numInputRows / p.batches, p.numOutputRows / p.batches]));
        const withLatency = pts.filter((p) => p.ingestToVisibleMs);
        latency.update(series(withLatency, (p) => [p.ingestToVisibleMs.max, p.ingestToVisibleMs.min]));
        dead.update(series(pts, (p) => [p.numDeadLetterRows / p.batches]));
        const withWatermark = pts.filter((p) => p.watermarkMs !== null && p.watermarkMs !== undefined);
        lag.el.hidden = withWatermark.length === 0;
        if (withWatermark.length) lag.update(series(withWatermark, (p) => [(p.endMs - p.watermarkMs) / 1000]));
        // State: rows (left axis) and memory (right axis) of each stateful operator.
        const ops = [];
        let maxBytes = 0;
        for (const p of pts) {
          for (const s of p.stateOperators) {
            if (!ops.includes(s.operatorName)) ops.push(s.operatorName);
            maxBytes = Math.max(maxBytes, s.memoryUsedBytes);
          }
        }
        const unit = maxBytes >= 1073741824 ? ["GiB", 1073741824] : maxBytes >= 1048576 ? ["MiB", 1048576] : ["KiB", 1024];
        const key = ops.join("|") + "|" + unit[0];
        if (key !== stateKey) {
          if (state) state.destroy();
          stateKey = key;
          state = ops.length ? chart("state", "State per operator: keys (left) and memory (right)",
                                     ["time", ...ops.map((o) => o + " rows"), ...ops.map((o) => o + " " + unit[0])], "rows") : null;
          fill(stateBox, [state ? state.el : h("div", {class: "chart-card"}, h("h3", {}, "State per operator"),
                                   h("p", {class: "muted empty"}, "No stateful operator in this query."))]);
        }
        if (state) {
          const seriesOpts = {};
          for (const o of ops) seriesOpts[o + " " + unit[0]] = {axis: "y2"};
          state.update(series(pts, (p) => {
            const by = {};
            for (const s of p.stateOperators) by[s.operatorName] = s;
            return ops.map((o) => (by[o] ? by[o].numRowsTotal : null))
              .concat(ops.map((o) => (by[o] ? by[o].memoryUsedBytes / unit[1] : null)));
          }), {series: seriesOpts, y2label: unit[0], axes: {y2: {independentTicks: true}}});
        }
        note.textContent = hist.points.length ? "History: " + hist.points.length + " points (" + (hist.tailPoints || 0) +
          " older buckets of up to " + ms(hist.tailBucketMs) + " each, then one point per batch), since " + time(new Date(pts[0].startMs).toISOString()) + "." : "";
        progress.textContent = reports.length ? JSON.stringify(reports[reports.length - 1], null, 2) : "No batch yet.";
      },
      fail(e) { fill(head, [errorBox(e)]); },
    };
  }

  // ---- tables --------------------------------------------------------------------------------
  function tablesPage() {
    const box = section("Tables");
    fill(main, [h("h1", {}, "Tables"), box]);
    return {
      period: 5000,
      async refresh(current) {
        const list = await api("/tables");
        if (!current()) return;
        const body = list.map((t) => h("tr", {"data-table": t.name},
          h("td", {"data-label": "Table", "data-k": "name"}, h("a", {href: "#/tables/" + encodeURIComponent(t.name)}, t.name),
            t.deadLetter ? h("span", {class: "tag"}, "dead letters") : null),
          cell("Version", t.version, num(t.version, 0), "num"),
          cell("Rows", t.rows, rows(t.rows), "num"),
          cell("Size", t.bytes, bytes(t.bytes), "num"),
          cell("Chunks", t.chunks, num(t.chunks, 0), "num"),
          cell("Updated", t.updated, t.updated ? ago(t.updated) : "–"),
          cell("Writer", t.writer, t.writer || "–")));
        fill(box, [list.length ? table("rt tables", ["Table", "Version", "Rows", "Size", "Chunks", "Updated", "Writer"], body)
                                        : h("p", {class: "muted"}, "No table yet.")]);
      },
      fail(e) { fill(box, [errorBox(e)]); },
    };
  }
  function tablePage(name) {
    const head = h("div", {class: "card"});
    const schemaBox = section("Schema");
    const historyBox = section("History");
    const rowsBox = section("Rows");
    const enc = encodeURIComponent(name);
    let before = null;  // history page: versions below this one (null: the newest)
    let version = null;  // rows: at this version (null: the latest)
    let offset = 0;
    const LIMIT = 25;
    fill(main, [h("p", {class: "crumbs"}, h("a", {href: "#/tables"}, "Tables"), " / ", name), head,
                         h("div", {class: "grid-2 wide-right"}, schemaBox, historyBox), rowsBox]);
    async function loadHistory() {
      const hist = await api("/tables/" + enc + "/history?limit=20" + (before !== null ? "&before=" + before : ""));
      const body = hist.map((c) => h("tr", {"data-version": c.version},
        cell("Version", c.version, num(c.version, 0), "num"),
        cell("Time", c.timestamp, time(c.timestamp)),
        cell("Operation", c.operation, c.operation + (!c.dataChange ? " (no data change)" : c.mode !== "Append" ? " (" + c.mode.toLowerCase() + ")" : "")),
        cell("Writer", c.writer, c.writer || "–"),
        cell("Txn", c.txn ? c.txn.batchId : null, c.txn ? "batch " + c.txn.batchId + " · epoch " + c.txn.epoch : "–"),
        cell("Rows", c.rowsAdded, "+" + rows(c.rowsAdded) + (c.rowsRemoved ? " −" + num(c.rowsRemoved, 0) : ""), "num"),
        cell("Bytes", c.bytes, "+" + bytes(c.bytes) + (c.bytesRemoved ? " −" + bytes(c.bytesRemoved) : ""), "num"),
        h("td", {"data-label": ""}, h("button", {class: "link", onclick: () => { version = c.version; offset = 0; loadRows(); }}, "rows"))));
      const oldest = hist.length ? hist[hist.length - 1].version : 0;
      fill(historyBox, [h("h2", {}, "History"),
        table("rt compact", ["Version", "Time", "Operation", "Writer", "Txn", "Rows", "Bytes", ""], body),
        h("div", {class: "pager"},
          h("button", {disabled: before === null, onclick: () => { before = null; loadHistory(); }}, "Newest"),
          h("button", {disabled: oldest === 0, onclick: () => { before = oldest; loadHistory(); }}, "Older"))]);
    }
    async function loadRows() {
      const page = await api("/tables/" + enc + "/rows?limit=" + LIMIT + "&offset=" + offset + (version !== null ? "&version=" + version : ""));
      const cols = page.columns.map((c) => c.name);
      const body = page.rows.map((r) => h("tr", {}, cols.map((c) => {
        const v = r[c];
        const text = v === null ? "null" : typeof v === "object" ? JSON.stringify(v) : String(v);
        return h("td", {"data-label": c, title: text.length > 60 ? text : null, class: v === null ? "muted" : ""},
                 text.length > 60 ? text.slice(0, 60) + "…" : text);
      })));
      const vInput = h("input", {type: "number", min: 0, id: "rows-version", value: page.version, class: "small-input"});
      const last = Math.min(offset + page.rows.length, page.totalRows);
      fill(rowsBox, [
        h("h2", {}, "Rows"),
        h("form", {class: "toolbar", onsubmit: (ev) => { ev.preventDefault(); version = vInput.value === "" ? null : Number(vInput.value); offset = 0; loadRows().catch(showRowsError); }},
          h("label", {for: "rows-version"}, "Version"), vInput,
          h("button", {type: "submit"}, "Show"),
          h("button", {type: "button", onclick: () => { version = null; offset = 0; loadRows().catch(showRowsError); }}, "Latest"),
          h("span", {class: "muted small", id: "rows-range", "data-v": page.totalRows},
            page.totalRows ? "rows " + num(offset + 1, 0) + "–" + num(last, 0) + " of " + rows(page.totalRows) + " at version " + page.version
                           : "no rows at version " + page.version)),
        table("data", page.columns.map((c) => h("span", {title: c.type}, c.name, h("span", {class: "type"}, c.type))), body),
        h("div", {class: "pager"},
          h("button", {disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - LIMIT); loadRows().catch(showRowsError); }}, "Previous"),
          h("button", {disabled: last >= page.totalRows, onclick: () => { offset += LIMIT; loadRows().catch(showRowsError); }}, "Next"))]);
    }
    function showRowsError(e) {
      fill(rowsBox, [h("h2", {}, "Rows"), errorBox(e),
        h("button", {onclick: () => { version = null; offset = 0; loadRows().catch(showRowsError); }}, "Back to the latest version")]);
    }
    let first = true;
    return {
      period: 5000,
      async refresh(current) {
        const t = await api("/tables/" + enc);
        if (!current()) return;
        fill(head, [
          h("h1", {}, name, t.deadLetter ? h("span", {class: "tag"}, "dead letters") : null),
          h("div", {class: "kpis"},
            kpi("Version", num(t.version, 0), "version", t.version),
            kpi("Rows", rows(t.rows), "rows", t.rows),
            kpi("Size", bytes(t.bytes), "bytes", t.bytes),
            kpi("Readable versions", num(t.versions, 0) + (t.oldestReadableVersion > 0 ? " (from v" + t.oldestReadableVersion + ")" : ""), "versions", t.versions),
            kpi("Chunks", num(t.chunks, 0), "chunks", t.chunks),
            kpi("Updated", t.updated ? ago(t.updated) : "–", "updated", t.updated),
            kpi("Writer", t.writer || "–", "writer", t.writer))]);
        fill(schemaBox, [h("h2", {}, "Schema"), table("compact schema", ["Column", "Type", "Nullable"],
          t.schema.map((f) => h("tr", {}, h("td", {"data-label": "Column"}, f.name), h("td", {"data-label": "Type"}, f.type),
                                h("td", {"data-label": "Nullable"}, f.nullable ? "yes" : "no"))))]);
        if (first) {  // history and rows stay where the user paged them
          first = false;
          await Promise.all([loadHistory(), loadRows()]);
        } else if (before === null) {
          await loadHistory();
        }
      },
      fail(e) { fill(head, [errorBox(e)]); },
    };
  }

  // ---- jobs -----------------------------------------------------------------------------------
  function jobsPage() {
    const box = section("Jobs");
    const runsBox = section("Runs since the daemon started");
    const message = h("p", {class: "small", id: "job-message", role: "status"});
    fill(main, [h("h1", {}, "Jobs"), box, message, runsBox]);
    async function runNow(job, button) {
      button.disabled = true;
      try {
        const r = await api("/jobs/" + encodeURIComponent(job) + "/run", {method: "POST"});
        message.textContent = "Queued run " + r.runId + ".";
        message.className = "small";
      } catch (e) {
        if (e instanceof Unauthorized) throw e;
        message.textContent = "Run now failed: " + e.message;
        message.className = "small bad-text";
      }
      button.disabled = false;
      if (page && page.refresh) await page.refresh(() => true);
    }
    return {
      period: 3000,
      async refresh(current) {
        const [jobs, runs] = await Promise.all([optional("/jobs"), optional("/jobs/runs")]);
        if (!current()) return;
        if (!jobs) {
          fill(box, [h("p", {class: "muted"}, "This daemon's config has no jobs.")]);
          fill(runsBox, []);
          return;
        }
        fill(box, [h("h2", {}, "Jobs"), table("rt jobs", ["Job", "Schedule", "Next run", "State", "Last run", ""],
          jobs.map((j) => h("tr", {"data-job": j.name},
            cell("Job", j.name, j.name),
            cell("Schedule", j.schedule, j.schedule),
            cell("Next run", j.nextRun, time(j.nextRun) + " (" + ago(j.nextRun) + ")"),
            h("td", {"data-label": "State", "data-k": "state", "data-v": j.state}, badge(j.state)),
            h("td", {"data-label": "Last run"}, j.lastRun ? [badge(j.lastRun.status), " ", ago(j.lastRun.endTime || j.lastRun.startTime)] : "–"),
            h("td", {"data-label": ""}, h("button", {class: "primary run-now", "data-job": j.name, disabled: j.state !== "idle",
                                                     onclick: (ev) => runNow(j.name, ev.target).catch(() => route())}, "Run now")))))]);
        fill(runsBox, [h("h2", {}, "Runs since the daemon started ", h("span", {class: "muted small"}, "earlier runs: table ", h("a", {href: "#/tables/job_runs"}, "job_runs"))),
          runs && runs.length ? table("rt runs", ["Run", "Job", "Trigger", "Status", "Started", "Duration", "Results", "Error"],
            runs.map((r) => h("tr", {"data-run": r.runId},
              cell("Run", r.runId, r.runId, "wrap"),
              cell("Job", r.job, r.job),
              cell("Trigger", r.trigger, r.trigger),
              h("td", {"data-label": "Status", "data-k": "status", "data-v": r.status}, badge(r.status)),
              cell("Started", r.startTime, time(r.startTime)),
              cell("Duration", null, r.startTime && r.endTime ? ms(Date.parse(r.endTime) - Date.parse(r.startTime)) : "–", "num"),
              h("td", {"data-label": "Results", class: "wrap"}, r.results.map((x, i) => [i ? ", " : "",
                h("a", {href: "#/tables/" + encodeURIComponent(x.table)}, x.table), " v" + x.version + " (" + rows(x.rows) + ")"])),
              cell("Error", r.error, r.error || "", r.error ? "bad-text wrap" : ""))))
            : h("p", {class: "muted"}, "No run yet.")]);
      },
      fail(e) { fill(box, [errorBox(e)]); },
    };
  }

  // ---- dead letters --------------------------------------------------------------------------
  function deadLettersPage() {
    const box = section(null);
    let limit = 50;
    const limitSel = h("select", {id: "dl-limit", onchange: () => { limit = Number(limitSel.value); page.refresh(() => true).catch((e) => page.fail(e)); }},
                       [50, 200, 1000].map((n) => h("option", {value: n}, n + " rows")));
    fill(main, [h("h1", {}, "Dead letters"),
      h("p", {class: "toolbar"}, h("label", {for: "dl-limit"}, "Newest"), limitSel,
        h("span", {class: "muted small"}, "rows that failed cleaning, with the reason and where they came from")), box]);
    return {
      period: 5000,
      async refresh(current) {
        const dl = await api("/deadletters?limit=" + limit);
        if (!current()) return;
        fill(box, [dl.rows.length ? table("rt deadletters", ["Failed at", "Table", "Query", "Operator", "Reason", "Position", "Raw record"],
          dl.rows.map((r) => h("tr", {},
            cell("Failed at", r.failed_at, time(r.failed_at)),
            cell("Table", r.table, r.table),
            cell("Query", r.query, r.query + " · batch " + r.batch_id),
            cell("Operator", r.operator, r.operator),
            cell("Reason", r.reason, r.reason, "wrap"),
            cell("Position", r.position, r.position, "wrap"),
            h("td", {"data-label": "Raw record", class: "raw"},
              h("details", {}, h("summary", {}, (r.raw || "").slice(0, 40) + ((r.raw || "").length > 40 ? "…" : "")), h("pre", {}, r.raw || ""))))))
          : h("p", {class: "muted"}, "No rejected row" + (dl.tables.length ? " in " + dl.tables.join(", ") : "") + ".")]);
      },
      fail(e) { fill(box, [errorBox(e)]); },
    };
  }

  // ---- routing ----------------------------------------------------------------------------------
  async function refreshReady() {
    const el = document.getElementById("ready");
    try {
      const r = await fetch("/ready", {cache: "no-store", credentials: "omit"});
      const body = await r.json();
      fill(el, [badge(body.status)]);
      el.title = body.message || "GET /ready";
    } catch (e) {
      fill(el, [badge("unreachable")]);
    }
  }
  function route() {
    stopTimer();
    destroyCharts();
    generation++;
    document.getElementById("signout").hidden = !sessionStorage.getItem(TOKEN_KEY);
    const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
    let name = "overview";
    let p;
    if (parts[0] === "query" && parts[1]) { name = "overview"; p = queryPage(parts[1]); }
    else if (parts[0] === "tables" && parts[1]) { name = "tables"; p = tablePage(parts[1]); }
    else if (parts[0] === "tables") { name = "tables"; p = tablesPage(); }
    else if (parts[0] === "jobs") { name = "jobs"; p = jobsPage(); }
    else if (parts[0] === "deadletters") { name = "deadletters"; p = deadLettersPage(); }
    else p = overviewPage();
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === name);
    startPage(p);
  }
  window.addEventListener("hashchange", route);
  refreshReady();
  setInterval(refreshReady, 5000);
  route();
})();
