/* llmops dashboard: renders every view from one JSON document; no libraries, no network in the
   static file (the served page fetches item pages and item details from its own origin). Data is
   only ever put into the page as text nodes or attributes, never as HTML. */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("llmops-data").textContent);
  var LIVE = D.meta.mode === "live";
  var API = D.meta.api || "";
  var SVGNS = "http://www.w3.org/2000/svg";
  var STATUS = { p: "pass", f: "fail", n: "n/a", s: "skipped", e: "error", "-": "" };
  var PAGE = 50;
  var state = { tab: "overview", suite: null, run: null, filters: { tag: "", metric: "", status: "", flaky: false, q: "" } };

  // -- small helpers ---------------------------------------------------------------------------
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "text") node.textContent = v;
        else if (k === "on") Object.keys(v).forEach(function (ev) { node.addEventListener(ev, v[ev]); });
        else node.setAttribute(k, v === true ? "" : v);
      });
    }
    for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }
  function add(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { add(node, c); }); return; }
    node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
  function sv(tag, attrs) {
    var node = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "on") { if (attrs.on) Object.keys(attrs.on).forEach(function (ev) { node.addEventListener(ev, attrs.on[ev]); }); }
      else if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
    });
    return node;
  }
  function fmt(v, digits) {
    if (v === null || v === undefined || (typeof v === "number" && isNaN(v))) return "–";
    if (typeof v !== "number") return String(v);
    return v.toFixed(digits === undefined ? 3 : digits);
  }
  function signed(v) { return v === null || v === undefined ? "–" : (v >= 0 ? "+" : "") + v.toFixed(3); }
  function interval(d, lo, hi) {
    return d === null || d === undefined ? "–" : signed(d) + " [" + signed(lo) + ", " + signed(hi) + "]";
  }
  function short(s, n) { s = s || ""; return s.length > n ? s.slice(0, n - 1) + "…" : s; }
  function suiteByName(name) { return D.suites.filter(function (s) { return s.name === name; })[0] || D.suites[0]; }
  function runOf(id) { return D.runs[id] || null; }
  function statusCls(s) { return s === "pass" ? "pass" : s === "fail" ? "fail" : s === "error" ? "error" : "other"; }

  // -- charts (inline SVG) ---------------------------------------------------------------------
  function lineChart(opts) {
    var W = 320, H = 150, L = 34, R = 8, T = 10, B = 22;
    var pts = opts.points, n = pts.length;
    var svg = sv("svg", { class: "chart", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": opts.label || "chart" });
    var y0 = opts.min === undefined ? 0 : opts.min, y1 = opts.max === undefined ? 1 : opts.max;
    function X(i) { return n <= 1 ? L + (W - L - R) / 2 : L + (i * (W - L - R)) / (n - 1); }
    function Y(v) { return T + (1 - (v - y0) / (y1 - y0 || 1)) * (H - T - B); }
    [0, 0.25, 0.5, 0.75, 1].forEach(function (f) {
      var v = y0 + f * (y1 - y0);
      svg.appendChild(sv("line", { class: "gridline", x1: L, x2: W - R, y1: Y(v), y2: Y(v) }));
      svg.appendChild(sv("text", { x: L - 4, y: Y(v) + 3, "text-anchor": "end", text: v.toFixed(2) }));
    });
    svg.appendChild(sv("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
    svg.appendChild(sv("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    (opts.hlines || []).forEach(function (h) {
      if (h.y === null || h.y === undefined) return;
      svg.appendChild(sv("line", { class: h.cls, x1: L, x2: W - R, y1: Y(h.y), y2: Y(h.y) }));
      // threshold labels sit at the left end, baseline labels at the right: they never overlap
      svg.appendChild(sv("text", h.left ? { x: L + 4, y: Y(h.y) - 3, text: h.label } : { x: W - R, y: Y(h.y) - 3, "text-anchor": "end", text: h.label }));
    });
    var d = "";
    pts.forEach(function (p, i) { if (p.y !== null && p.y !== undefined) d += (d ? "L" : "M") + X(i) + "," + Y(p.y); });
    if (d) svg.appendChild(sv("path", { class: "series", d: d }));
    pts.forEach(function (p, i) {
      if (p.y === null || p.y === undefined) return;
      if (p.base) svg.appendChild(sv("circle", { class: "base-ring", cx: X(i), cy: Y(p.y), r: 8 }));
      var c = sv("circle", { class: "pt " + (p.cls || "other") + (p.sel ? " sel" : ""), cx: X(i), cy: Y(p.y), r: 4.5, tabindex: 0, "data-run": p.run || null, on: p.onclick ? { click: p.onclick } : null });
      c.appendChild(sv("title", { text: p.title || "" }));
      svg.appendChild(c);
    });
    if (n) {
      svg.appendChild(sv("text", { x: L, y: H - 6, text: short(pts[0].xlabel || "", 20) }));
      if (n > 1) svg.appendChild(sv("text", { x: W - R, y: H - 6, "text-anchor": "end", text: short(pts[n - 1].xlabel || "", 20) }));
    }
    return svg;
  }

  // rows: [{label, v, lo, hi, cls}] drawn as dots with whiskers; zero line when opts.zero
  function intervalChart(rows, opts) {
    opts = opts || {};
    var W = 520, L = 150, R = 14, RH = 20, T = 8;
    var H = T + rows.length * RH + 20;
    var lo = opts.min, hi = opts.max;
    if (lo === undefined) { lo = Math.min.apply(null, rows.map(function (r) { return r.lo; }).concat([0])); lo = Math.floor(lo * 10) / 10; }
    if (hi === undefined) { hi = Math.max.apply(null, rows.map(function (r) { return r.hi; }).concat([0])); hi = Math.ceil(hi * 10) / 10; }
    if (hi <= lo) hi = lo + 1;
    function X(v) { return L + ((v - lo) / (hi - lo)) * (W - L - R); }
    var svg = sv("svg", { class: "chart wide", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": opts.label || "intervals" });
    svg.appendChild(sv("line", { class: "axis", x1: L, x2: W - R, y1: H - 18, y2: H - 18 }));
    [lo, (lo + hi) / 2, hi].forEach(function (v) { svg.appendChild(sv("text", { x: X(v), y: H - 6, "text-anchor": "middle", text: v.toFixed(2) })); });
    if (opts.zero && lo < 0 && hi > 0) svg.appendChild(sv("line", { class: "zero", x1: X(0), x2: X(0), y1: T, y2: H - 18 }));
    if (opts.ref !== undefined && opts.ref !== null) svg.appendChild(sv("line", { class: "thr", x1: X(opts.ref), x2: X(opts.ref), y1: T, y2: H - 18 }));
    rows.forEach(function (r, i) {
      var y = T + i * RH + RH / 2;
      svg.appendChild(sv("text", { x: L - 6, y: y + 3, "text-anchor": "end", text: short(r.label, 24) }));
      if (r.v === null || r.v === undefined) return;
      svg.appendChild(sv("line", { class: "whisker " + (r.cls || ""), x1: X(r.lo), x2: X(r.hi), y1: y, y2: y }));
      var c = sv("circle", { class: "pt " + (r.cls === "bad" ? "fail" : r.cls === "good" ? "pass" : "other"), cx: X(r.v), cy: y, r: 4 });
      c.appendChild(sv("title", { text: r.label + ": " + r.v.toFixed(3) + " [" + r.lo.toFixed(3) + ", " + r.hi.toFixed(3) + "]" }));
      svg.appendChild(c);
    });
    return svg;
  }

  function barChart(bars, opts) {
    opts = opts || {};
    var W = 520, H = 160, L = 40, R = 8, T = 10, B = 30;
    var max = Math.max.apply(null, bars.map(function (b) { return b.v; }).concat([1e-9]));
    var bw = (W - L - R) / Math.max(bars.length, 1);
    var svg = sv("svg", { class: "chart wide", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": opts.label || "bars" });
    svg.appendChild(sv("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    svg.appendChild(sv("text", { x: L - 4, y: T + 4, "text-anchor": "end", text: fmt(max, opts.digits === undefined ? 0 : opts.digits) }));
    bars.forEach(function (b, i) {
      var h = (b.v / max) * (H - T - B);
      var r = sv("rect", { class: "bar", x: L + i * bw + 1, y: H - B - h, width: Math.max(bw - 2, 1), height: Math.max(h, 0) });
      r.appendChild(sv("title", { text: b.label + ": " + b.v }));
      svg.appendChild(r);
      if (bars.length <= 12 || i % Math.ceil(bars.length / 8) === 0) svg.appendChild(sv("text", { x: L + i * bw + bw / 2, y: H - B + 12, "text-anchor": "middle", text: short(b.label, 10) }));
    });
    return svg;
  }

  // -- lineage ---------------------------------------------------------------------------------
  function lineageRows(lin) {
    lin = lin || {};
    var rows = [];
    if (lin.prompt) rows.push(["prompt", lin.prompt.name + "@" + lin.prompt.version + " (" + short(lin.prompt.content_hash, 14) + ")"]);
    if (lin.index) rows.push(["index", lin.index.pipeline + "@" + lin.index.index_version + (lin.index.embedding_model ? " · " + lin.index.embedding_model : "")]);
    if (lin.upstream || lin.upstream_model) rows.push(["model", (lin.upstream_model || "") + (lin.upstream ? " via " + lin.upstream : "")]);
    if (lin.judge) rows.push(["judge", lin.judge.model + (lin.judge.base_url ? " at " + lin.judge.base_url : "") + (lin.judge.rubric ? " · rubric " + lin.judge.rubric.name + "@" + lin.judge.rubric.version : "")]);
    if (lin.dataset_hash) rows.push(["dataset", short(lin.dataset_hash, 16)]);
    if (lin.git_commit) rows.push(["git commit", short(lin.git_commit, 12)]);
    if (lin.llmops_version) rows.push(["llmops", lin.llmops_version]);
    return el("table", { class: "kv" }, rows.map(function (r) { return el("tr", null, el("th", { text: r[0] }), el("td", null, el("code", { text: r[1] }))); }));
  }

  function metricTable(run) {
    return el("table", null,
      el("tr", null, ["metric", "mean", "pass rate", "threshold", "baseline", "Δ [CI]", "status", "notes"].map(function (h) { return el("th", { text: h }); })),
      run.metrics.map(function (m) {
        return el("tr", null, el("td", { text: m.name }), el("td", { class: "num", text: fmt(m.mean) }), el("td", { class: "num", text: fmt(m.pass_rate) }),
          el("td", { class: "num", text: fmt(m.threshold, 2) }), el("td", { class: "num", text: fmt(m.baseline_mean) }),
          el("td", { class: "num", text: interval(m.diff, m.ci_low, m.ci_high) }), el("td", { class: m.status, text: m.status }),
          el("td", { text: (m.reasons || []).join("; ") }));
      }));
  }

  function runCard(run) {
    if (!run) return el("p", { class: "muted", text: "click a point to see its run" });
    return el("div", { class: "card", id: "run-card" },
      el("h3", null, "run ", el("code", { text: run.run_id }), " · ", el("span", { class: run.passed ? "pass" : "fail", text: run.passed ? "passed" : "failed" }), run.partial ? " · partial" : ""),
      el("p", { class: "muted", text: run.started_at + " · " + run.items + " items × " + run.repeats + " repeat(s) · " + fmt(run.wall_s, 1) + " s · source " + run.source + (run.results_path ? " · " + run.results_path : "") + (run.mlflow_run_id ? " · mlflow " + run.mlflow_run_id : "") }),
      lineageRows(run.lineage), metricTable(run));
  }

  // -- views -----------------------------------------------------------------------------------
  function overview(main) {
    if (!D.suites.length) { main.appendChild(el("p", { text: "No eval runs in the history yet: run `llmops eval run` first." })); return; }
    D.suites.forEach(function (suite) {
      var runs = suite.runs.map(runOf);
      var last = runs[runs.length - 1];
      main.appendChild(el("h2", null, suite.name, " ", el("span", { class: last.passed ? "pass" : "fail", text: last.passed ? "✓ passing" : "✗ failing" })));
      main.appendChild(el("p", { class: "muted", text: runs.length + " run(s) · thresholds dashed red" + (suite.baseline ? " · committed baseline dotted blue (" + suite.baseline.created_at + ")" : " · no committed baseline") }));
      var card = el("div", { id: "run-card-" + suite.name });
      var grid = el("div", { class: "grid" });
      suite.metrics.forEach(function (name) {
        var points = runs.map(function (r) {
          var m = r.metrics.filter(function (x) { return x.name === name; })[0];
          var isBase = !!(suite.baseline && suite.baseline.created_at && suite.baseline.created_at === r.finished_at);
          return { y: m ? m.mean : null, cls: m ? statusCls(m.status) : "other", run: r.run_id, xlabel: r.started_at.slice(0, 16), base: isBase,
            title: (isBase ? "BASELINE · " : "") + r.started_at + " · run " + r.run_id.slice(0, 8) + " · " + name + " " + fmt(m && m.mean) + " (" + (m ? m.status : "–") + ")" +
              (r.lineage.prompt ? " · prompt " + r.lineage.prompt.name + "@" + r.lineage.prompt.version : "") + (r.lineage.git_commit ? " · " + r.lineage.git_commit.slice(0, 8) : ""),
            onclick: function () { card.textContent = ""; card.appendChild(runCard(r)); } };
        });
        grid.appendChild(el("div", { class: "card" }, el("h4", { text: name }),
          lineChart({ points: points, label: suite.name + " " + name, hlines: [
            { y: suite.thresholds[name], cls: "thr", label: "threshold", left: true },
            { y: suite.baseline ? suite.baseline.means[name] : null, cls: "base", label: "baseline" }] })));
      });
      main.appendChild(grid);
      main.appendChild(card);
      card.appendChild(runCard(last));
      main.appendChild(el("h3", { text: "Runs" }));
      main.appendChild(el("table", null,
        el("tr", null, ["run", "started", "verdict", "score", "prompt", "index", "model", "judge", "dataset", "commit"].map(function (h) { return el("th", { text: h }); })),
        runs.slice().reverse().map(function (r) {
          var lin = r.lineage || {};
          return el("tr", { class: "row", on: { click: function () { card.textContent = ""; card.appendChild(runCard(r)); card.scrollIntoView(); } } },
            el("td", null, el("code", { text: r.run_id.slice(0, 8) })), el("td", { text: r.started_at }),
            el("td", { class: r.passed ? "pass" : "fail", text: r.passed ? "pass" : "fail" }), el("td", { class: "num", text: fmt(r.overall_score) }),
            el("td", { text: lin.prompt ? lin.prompt.name + "@" + lin.prompt.version : "–" }),
            el("td", { text: lin.index ? lin.index.pipeline + "@" + lin.index.index_version : "–" }),
            el("td", { text: lin.upstream_model || "–" }), el("td", { text: lin.judge ? lin.judge.model : "–" }),
            el("td", null, el("code", { text: short(lin.dataset_hash || "–", 12) })), el("td", null, el("code", { text: short(lin.git_commit || "–", 9) })));
        })));
    });
  }

  function compareView(main) {
    D.suites.forEach(function (suite) {
      main.appendChild(el("h2", { text: suite.name }));
      if (!suite.comparisons.length) main.appendChild(el("p", { class: "muted", text: "Nothing to compare with: no committed baseline and a single run." }));
      suite.comparisons.forEach(function (c) {
        var box = el("div", { class: "card comparison", "data-verdict": c.verdict });
        box.appendChild(el("h3", null, c.baseline.label, " → ", c.candidate.label, " ", el("span", { class: "verdict " + (c.verdict === "pass" ? "pass" : "fail"), text: c.verdict === "refused" ? "not comparable" : "gate: " + c.verdict })));
        if (c.refused) {
          box.appendChild(el("div", { class: "refusal", role: "alert" }, el("h4", { text: "Refused: these runs are not comparable" }),
            el("ul", null, c.refused.map(function (r) { return el("li", { text: r }); })),
            el("p", { class: "note", text: "Nothing is plotted side by side. Re-run the baseline with the same golden set and judge, or compare runs that share them." })));
          main.appendChild(box);
          return;
        }
        box.appendChild(el("table", null,
          el("tr", null, ["metric", "baseline", "candidate", "Δ [" + Math.round((1 - c.alpha) * 100) + "% CI]", "paired n", "verdict"].map(function (h) { return el("th", { text: h }); })),
          c.metrics.map(function (m) {
            return el("tr", null, el("td", { text: m.name }), el("td", { class: "num", text: fmt(m.base_mean) }), el("td", { class: "num", text: fmt(m.cand_mean) }),
              el("td", { class: "num", text: interval(m.diff, m.low, m.high) }), el("td", { class: "num", text: m.n }), el("td", { class: m.verdict.split(" ")[0], text: m.verdict }));
          })));
        box.appendChild(intervalChart(c.metrics.filter(function (m) { return m.diff !== undefined; }).map(function (m) {
          return { label: m.name, v: m.diff, lo: m.low, hi: m.high, cls: m.high < 0 ? "bad" : m.low > 0 ? "good" : "" };
        }), { zero: true, label: "paired differences" }));
        box.appendChild(el("h4", { text: "Per-item changes, most regressed first (" + c.diffs.length + " of " + c.diffs_total + ")" }));
        var names = c.metrics.map(function (m) { return m.name; });
        box.appendChild(el("table", { class: "diffs" },
          el("tr", null, [el("th", { text: "item" }), el("th", { text: "worst Δ" })].concat(names.map(function (n) { return el("th", { text: n + " base → cand" }); }))),
          c.diffs.slice(0, 100).map(function (d) {
            return el("tr", { class: "row", on: { click: function () { openById(suite, d.id); } } }, el("td", null, el("code", { text: d.id })),
              el("td", { class: "num " + (d.worst < 0 ? "fail" : d.worst > 0 ? "pass" : ""), text: signed(d.worst) }),
              names.map(function (n) { return el("td", { class: "num", text: d.changes[n] === undefined ? "–" : fmt(d.base[n]) + " → " + fmt(d.cand[n]) }); }));
          })));
        main.appendChild(box);
      });
    });
  }

  // items: static mode filters the embedded columns; live mode asks the API (keyset pagination)
  function matches(cols, i, f) {
    if (f.tag && cols.tag[i].indexOf(cols.tags.indexOf(f.tag)) < 0) return false;
    if (f.flaky && !cols.flaky[i]) return false;
    if (f.status || f.metric) {
      var names = f.metric ? [f.metric] : Object.keys(cols.status);
      var ok = names.some(function (n) { var s = STATUS[cols.status[n][i]]; return f.status ? s === f.status : s !== ""; });
      if (!ok) return false;
    }
    if (f.q) {
      var q = f.q.toLowerCase();
      if (cols.id[i].toLowerCase().indexOf(q) < 0 && cols.input[i].toLowerCase().indexOf(q) < 0) return false;
    }
    return true;
  }

  function staticPage(suite, f, offset) {
    var cols = suite.items.cols, idx = [];
    for (var i = 0; i < cols.id.length; i++) if (matches(cols, i, f)) idx.push(i);
    idx.sort(function (a, b) {
      var da = cols.delta[a] === null ? 9 : cols.delta[a], db = cols.delta[b] === null ? 9 : cols.delta[b];
      return da - db || cols.seq[a] - cols.seq[b];
    });
    var rows = idx.slice(offset, offset + PAGE).map(function (i) {
      var metrics = {};
      Object.keys(cols.status).forEach(function (n) { metrics[n] = [cols.score[n][i], STATUS[cols.status[n][i]]]; });
      return { seq: cols.seq[i], id: cols.id[i], repeat: cols.repeat[i], input: cols.input[i], delta: cols.delta[i], flaky: !!cols.flaky[i],
        tags: cols.tag[i].map(function (t) { return cols.tags[t]; }), metrics: metrics };
    });
    return Promise.resolve({ items: rows, total: idx.length, next: offset + PAGE < idx.length ? offset + PAGE : null });
  }

  function livePage(suite, f, cursor) {
    var p = new URLSearchParams({ run: state.run || suite.items_run, limit: String(PAGE) });
    if (f.tag) p.set("tag", f.tag); if (f.metric) p.set("metric", f.metric); if (f.status) p.set("status", f.status);
    if (f.flaky) p.set("flaky", "1"); if (f.q) p.set("q", f.q); if (cursor) p.set("after", cursor);
    return fetch(API + "/items?" + p.toString(), { credentials: "same-origin" }).then(function (r) { return r.json(); });
  }

  function itemsView(main) {
    if (!D.suites.length) return;
    var suite = suiteByName(state.suite);
    var f = state.filters;
    var tags = LIVE ? (runOf(state.run || suite.items_run) || {}).tags || [] : suite.items.cols.tags;
    var bar = el("div", { class: "filters" });
    function select(label, key, options) {
      var s = el("select", { "data-filter": key, on: { change: function () { f[key] = s.value; refresh(); } } },
        options.map(function (o) { return el("option", { value: o[0], selected: f[key] === o[0] ? "selected" : null, text: o[1] }); }));
      return el("label", null, label, s);
    }
    if (D.suites.length > 1) bar.appendChild(el("label", null, "suite", el("select", { on: { change: function (e) { state.suite = e.target.value; state.run = null; render(); } } },
      D.suites.map(function (s) { return el("option", { value: s.name, selected: s.name === suite.name ? "selected" : null, text: s.name }); }))));
    if (LIVE) bar.appendChild(el("label", null, "run", el("select", { "data-filter": "run", on: { change: function (e) { state.run = e.target.value; render(); } } },
      suite.runs.slice().reverse().map(function (id) { var r = runOf(id); return el("option", { value: id, selected: id === (state.run || suite.items_run) ? "selected" : null, text: r.started_at + " · " + id.slice(0, 8) }); }))));
    bar.appendChild(select("tag", "tag", [["", "any tag"]].concat(tags.map(function (t) { return [t, t]; }))));
    bar.appendChild(select("metric", "metric", [["", "any metric"]].concat(suite.metrics.map(function (m) { return [m, m]; }))));
    bar.appendChild(select("verdict", "status", [["", "any"], ["pass", "pass"], ["fail", "fail"], ["error", "error"], ["n/a", "n/a"], ["skipped", "skipped"]]));
    var flaky = el("input", { type: "checkbox", "data-filter": "flaky", checked: f.flaky ? "checked" : null, on: { change: function () { f.flaky = flaky.checked; refresh(); } } });
    bar.appendChild(el("label", null, flaky, "flaky only"));
    var search = el("input", { type: "search", placeholder: "search id / question", value: f.q, "data-filter": "q" });
    var timer = null;
    search.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(function () { f.q = search.value; refresh(); }, 150); });
    bar.appendChild(search);
    main.appendChild(el("h2", { text: "Items · " + suite.name }));
    var runId = state.run || suite.items_run;
    main.appendChild(el("p", { class: "muted", text: "run " + runId + " · most regressed first (Δ = largest drop against the baseline it was gated on)" +
      (LIVE ? "" : " · " + Object.keys(suite.items.full).length + " of " + suite.items.total + " items embedded in full (the most regressed, then failing ones); the rest are summarised") }));
    main.appendChild(bar);
    var count = el("p", { class: "muted", id: "item-count" });
    var table = el("table", { id: "items" });
    var more = el("button", { class: "more", text: "show more" });
    main.appendChild(count); main.appendChild(table); main.appendChild(more);
    var next = null, shown = 0;
    function header() {
      table.textContent = "";
      table.appendChild(el("tr", null, [el("th", { text: "item" }), el("th", { text: "question" }), el("th", { text: "Δ" }), el("th", { text: "tags" })]
        .concat(suite.metrics.map(function (m) { return el("th", { text: m }); }))));
    }
    function load(cursor) {
      var got = LIVE ? livePage(suite, f, cursor) : staticPage(suite, f, cursor || 0);
      return got.then(function (page) {
        page.items.forEach(function (b) {
          shown++;
          table.appendChild(el("tr", { class: "row", "data-seq": b.seq, on: { click: function () { openItem(suite, runId, b); } } },
            el("td", null, el("code", { text: b.id + (b.repeat ? " #" + b.repeat : "") }), b.flaky ? el("span", { class: "badge", text: "flaky" }) : null),
            el("td", { text: short(b.input, 100) }),
            el("td", { class: "num " + (b.delta < 0 ? "fail" : ""), text: b.delta === null ? "–" : signed(b.delta) }),
            el("td", { text: (b.tags || []).join(", ") }),
            suite.metrics.map(function (m) { var c = b.metrics[m]; return el("td", { class: "num " + (c ? c[1] : ""), title: c ? c[1] : "", text: c ? (c[0] === null ? c[1] : fmt(c[0])) : "" }); })));
        });
        next = page.next;
        count.textContent = "showing " + shown + " of " + page.total + " matching items";
        more.style.display = next === null || next === undefined ? "none" : "";
      });
    }
    function refresh() { header(); shown = 0; return load(null); }
    more.addEventListener("click", function () { load(next); });
    refresh();
  }

  function openById(suite, id) {
    var cols = suite.items.cols;
    if (LIVE) { livePage(suite, { q: id }, null).then(function (p) { var b = p.items.filter(function (x) { return x.id === id; })[0]; if (b) openItem(suite, suite.items_run, b); }); return; }
    var i = cols.id.indexOf(id);
    if (i >= 0) openItem(suite, suite.items_run, { seq: cols.seq[i], id: id, repeat: cols.repeat[i], input: cols.input[i], delta: cols.delta[i], tags: [] });
  }

  function openItem(suite, runId, brief) {
    var old = document.getElementById("drawer");
    if (old) old.remove();
    var box = el("aside", { class: "drawer", id: "drawer", role: "dialog", "aria-label": "item " + brief.id });
    box.appendChild(el("button", { class: "close", text: "close ✕", on: { click: function () { box.remove(); } } }));
    box.appendChild(el("h2", null, "item ", el("code", { text: brief.id }), brief.repeat ? " · repeat " + brief.repeat : ""));
    document.body.appendChild(box);
    var got = LIVE ? fetch(API + "/item?run=" + encodeURIComponent(runId) + "&seq=" + brief.seq, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; })
      : Promise.resolve(suite.items.full[String(brief.seq)] || null);
    got.then(function (row) { fillItem(box, row, brief); });
  }

  function fillItem(box, row, brief) {
    if (!row) {
      box.appendChild(el("p", { class: "note", text: "Only the most regressed and failing items are embedded in full in this file; this one is summarised. The served dashboard (/dashboard on the gateway) and the run's results.json have every item." }));
      box.appendChild(el("h3", { text: "Question" })); box.appendChild(el("pre", { text: brief.input }));
      return;
    }
    var out = row.output || {};
    box.appendChild(el("p", null, (row.tags || []).map(function (t) { return el("span", { class: "badge", text: t }); }),
      row.delta !== null && row.delta !== undefined ? el("span", { class: row.delta < 0 ? "fail" : "", text: " Δ vs baseline " + signed(row.delta) }) : null,
      el("span", { class: "muted", text: " · " + fmt(out.latency_ms, 0) + " ms" + (out.cached ? " · cached" : "") })));
    box.appendChild(el("h3", { text: "Question" })); box.appendChild(el("pre", { text: row.input }));
    box.appendChild(el("h3", { text: "Answer" })); box.appendChild(el("pre", { class: "answer", text: out.answer || "" }));
    if (out.error) box.appendChild(el("p", { class: "error", text: "target error: " + out.error }));
    box.appendChild(el("h3", { text: "Reference" })); box.appendChild(el("pre", { text: row.reference === null || row.reference === undefined ? "(none)" : row.reference }));
    box.appendChild(el("h3", { text: "Retrieved contexts (" + (out.contexts || []).length + ")" }));
    (out.contexts || []).forEach(function (c, i) {
      box.appendChild(el("div", { class: "ctx" }, el("div", null, el("code", { text: "#" + (i + 1) + " " + (c.id || "") }), " ", c.source || "",
        c.score !== undefined && c.score !== null ? el("span", { class: "muted", text: " · score " + fmt(c.score) }) : null), el("pre", { text: short(c.text || "", 4000) })));
    });
    box.appendChild(el("h3", { text: "Metrics" }));
    Object.keys(row.metrics || {}).forEach(function (name) {
      var r = row.metrics[name];
      var det = r.details || {};
      box.appendChild(el("div", { class: "card metric" }, el("h4", null, name + " ", el("span", { class: r.status, text: r.status }), r.score !== null ? " · " + fmt(r.score) : ""),
        r.reason ? el("p", { text: r.reason }) : null,
        Object.keys(det).length ? el("details", null, el("summary", { text: "judge reasoning and details" }), el("pre", { text: JSON.stringify(det, null, 2) })) : null));
    });
    box.appendChild(el("h3", { text: "Lineage" })); box.appendChild(lineageRows(row.lineage));
  }

  function slicesView(main) {
    D.suites.forEach(function (suite) {
      sliceGate(main, suite, (D.runs[suite.items_run] || {}).slices);
      main.appendChild(el("h2", { text: suite.name + " · slices by tag" }));
      main.appendChild(el("p", { class: "muted", text: "Mean per tag with its 95% bootstrap interval; Δ is the paired change against the baseline within the slice (red: the whole interval is below zero)." }));
      if (!suite.slices.length) { main.appendChild(el("p", { class: "muted", text: "No tagged items." })); return; }
      var grid = el("div", { class: "grid" });
      suite.metrics.forEach(function (name) {
        var rows = suite.slices.filter(function (s) { return s.metrics[name]; }).map(function (s) {
          var c = s.metrics[name];
          return { label: s.tag + " (n=" + c.n + ")", v: c.mean, lo: c.low, hi: c.high, cls: c.diff_high !== undefined && c.diff_high < 0 ? "bad" : "" };
        });
        if (rows.length) grid.appendChild(el("div", { class: "card" }, el("h4", { text: name }), intervalChart(rows, { min: 0, max: 1, ref: suite.thresholds[name], label: "slices " + name })));
      });
      main.appendChild(grid);
      main.appendChild(el("table", { class: "slices", "data-suite": suite.name },
        el("tr", null, [el("th", { text: "tag" }), el("th", { text: "n" })].concat(suite.metrics.map(function (m) { return el("th", { text: m + " mean [CI] · Δ" }); }))),
        suite.slices.map(function (s) {
          return el("tr", null, el("td", { text: s.tag }), el("td", { class: "num", text: s.n }), suite.metrics.map(function (m) {
            var c = s.metrics[m];
            if (!c) return el("td", { text: "–" });
            return el("td", { class: "num " + (c.diff_high !== undefined && c.diff_high < 0 ? "fail" : "") },
              fmt(c.mean) + " [" + fmt(c.low) + ", " + fmt(c.high) + "]" + (c.diff !== undefined ? " · " + interval(c.diff, c.diff_low, c.diff_high) : ""));
          }));
        })));
    });
  }

  // The suite's slice gate (slices: in the suite file): sizes per slice, then every check.
  function sliceGate(main, suite, rep) {
    if (!rep || !rep.checks || !rep.checks.length) return;
    main.appendChild(el("h2", { text: suite.name + " · slice gate by " + rep.by.join(", ") }));
    main.appendChild(el("p", { class: "muted", text: rep.by.map(function (by) {
      return by + ": " + rep.slices.filter(function (r) { return r.by === by; }).map(function (r) { return r.value + " n=" + r.items; }).join(", ");
    }).join(" · ") + " — " + rep.correction + " over " + rep.tests + " check(s), family-wise α " + rep.alpha + "; fewer than " + rep.min_items + " items: not judged." }));
    var order = { "fail": 0, "too few items": 1, "pass": 2 };
    var checks = rep.checks.slice().sort(function (a, b) { return order[a.status] - order[b.status]; });
    main.appendChild(el("table", { class: "slice-gate", "data-suite": suite.name },
      el("tr", null, ["rule", "metric", "slice", "n", "value [CI]", "bound", "p (adj.)", "status"].map(function (h) { return el("th", { text: h }); })),
      checks.map(function (c) {
        var value = c.value === null ? "–" : fmt(c.value) + (c.ci_low !== null ? " [" + fmt(c.ci_low) + ", " + fmt(c.ci_high) + "]" : "");
        return el("tr", { title: c.reason, "data-status": c.status },
          el("td", { text: c.rule }), el("td", { text: c.metric }),
          el("td", null, el("code", { text: c.rule === "max_gap" ? c.by + " (" + c.slice + ")" : c.by + "=" + c.slice })),
          el("td", { class: "num", text: c.n }), el("td", { class: "num", text: value }), el("td", { class: "num", text: c.bound }),
          el("td", { class: "num", text: c.p_adjusted === null ? "–" : c.p_adjusted.toFixed(4) }),
          el("td", { class: c.status === "too few items" ? "skipped" : c.status, text: c.status }));
      })));
  }

  function calibrationView(main) {
    D.suites.forEach(function (suite) {
      main.appendChild(el("h2", { text: suite.name + " · judge calibration" }));
      var cal = suite.calibration;
      if (!cal.length) { main.appendChild(el("p", { class: "muted", text: "No judge metric with human labels in these runs (add labels to the golden set and options.label to the metric)." })); return; }
      var metrics = cal.map(function (c) { return c.metric; }).filter(function (m, i, a) { return a.indexOf(m) === i; });
      var grid = el("div", { class: "grid" });
      metrics.forEach(function (m) {
        var rows = cal.filter(function (c) { return c.metric === m; });
        ["accuracy", "kappa"].forEach(function (k) {
          grid.appendChild(el("div", { class: "card" }, el("h4", { text: m + " · " + k }), lineChart({ label: m + " " + k, min: k === "kappa" ? -1 : 0, max: 1,
            points: rows.map(function (c) { return { y: c[k], cls: c.status === "fail" ? "fail" : "pass", xlabel: c.started_at.slice(0, 16), title: c.started_at + " · n=" + c.n + " · " + k + " " + fmt(c[k]) }; }) })));
        });
        var last = rows[rows.length - 1];
        if (last.confusion) {
          var cm = last.confusion;
          grid.appendChild(el("div", { class: "card" }, el("h4", { text: m + " · confusion (latest run, n=" + last.n + ")" }),
            el("table", { class: "cm" }, el("tr", null, el("th", { text: "human ↓ / judge →" }), el("th", { text: "pass" }), el("th", { text: "fail" })),
              el("tr", null, el("th", { text: "pass" }), el("td", { class: "pass", text: cm[0][0] }), el("td", { class: "fail", text: cm[0][1] })),
              el("tr", null, el("th", { text: "fail" }), el("td", { class: "fail", text: cm[1][0] }), el("td", { class: "pass", text: cm[1][1] }))),
            el("p", { class: "note", text: "accuracy " + fmt(last.accuracy) + " · κ " + fmt(last.kappa) + " · TPR " + fmt(last.tpr) + " · TNR " + fmt(last.tnr) })));
        }
      });
      main.appendChild(grid);
    });
  }

  function panelView(panel) {
    var card = el("div", { class: "card panel" + (panel.wide ? " wide" : ""), "data-panel": panel.id });
    card.appendChild(el("h4", { text: panel.title }));
    if (panel.note) card.appendChild(el("p", { class: "note", text: panel.note }));
    if (panel.kind === "intervals" && panel.rows.length) card.appendChild(intervalChart(panel.rows.map(function (r) { return { label: r.label, v: r.value, lo: r.low, hi: r.high, cls: r.alert ? "bad" : "" }; }), { min: panel.min, max: panel.max, label: panel.title }));
    if (panel.kind === "bars" && panel.rows.length) card.appendChild(barChart(panel.rows.map(function (r) { return { label: r.label, v: r.value }; }), { label: panel.title }));
    if (panel.table && panel.table.rows.length) card.appendChild(el("table", null, el("tr", null, panel.table.columns.map(function (c) { return el("th", { text: c }); })),
      panel.table.rows.map(function (r) { return el("tr", null, r.map(function (v) { return el("td", { class: typeof v === "number" ? "num" : "", text: typeof v === "number" ? (Number.isInteger(v) ? String(v) : fmt(v)) : v }); })); })));
    if ((!panel.rows || !panel.rows.length) && (!panel.table || !panel.table.rows.length)) card.appendChild(el("p", { class: "muted", text: panel.empty || "no data in this window" }));
    return card;
  }

  function pageView(page) {
    return function (main) {
      main.appendChild(el("h2", { text: page.title }));
      if (page.note) main.appendChild(el("p", { class: "muted", text: page.note }));
      var grid = el("div", { class: "grid" });
      page.panels.forEach(function (p) { grid.appendChild(panelView(p)); });
      main.appendChild(grid);
    };
  }

  var VIEWS = [["overview", "Overview", overview], ["compare", "Compare", compareView], ["items", "Items", itemsView], ["slices", "Slices", slicesView], ["calibration", "Judge calibration", calibrationView]];
  (D.pages || []).forEach(function (p) { VIEWS.push([p.id, p.title, pageView(p)]); });

  function render() {
    var nav = document.getElementById("tabs"), main = document.getElementById("app");
    var drawer = document.getElementById("drawer");
    if (drawer) drawer.remove();
    nav.textContent = ""; main.textContent = "";
    VIEWS.forEach(function (v) {
      nav.appendChild(el("button", { class: state.tab === v[0] ? "on" : null, "data-tab": v[0], text: v[1], on: { click: function () { state.tab = v[0]; location.hash = v[0]; render(); } } }));
    });
    var view = VIEWS.filter(function (v) { return v[0] === state.tab; })[0] || VIEWS[0];
    view[2](main);
    document.body.setAttribute("data-ready", view[0]);
    if (!document.body.hasAttribute("data-first-render-ms")) document.body.setAttribute("data-first-render-ms", performance.now().toFixed(1));
  }

  document.addEventListener("keydown", function (e) {
    var drawer = document.getElementById("drawer");
    if (e.key === "Escape" && drawer) drawer.remove();
  });
  document.getElementById("title").textContent = D.meta.title;
  document.getElementById("generated").textContent = (LIVE ? "live · " : "built ") + D.meta.generated_at + (D.meta.since ? " · since " + D.meta.since : "");
  var wanted = (location.hash || "").slice(1);
  if (VIEWS.some(function (v) { return v[0] === wanted; })) state.tab = wanted;
  if (D.meta.single_run && !wanted) state.tab = "overview";
  render();
})();
