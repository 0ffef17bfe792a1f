/* glowops console: fetch each panel's data in parallel and draw it as SVG, with a table alternative.
   No library, no build step: ~250 lines that only need fetch, SVG and the DOM. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = ["#1a5fb4", "#c64600", "#2e7d32", "#8e24aa", "#00838f", "#ad1457", "#5d4037", "#455a64",
    "#9e7c00", "#283593", "#6a1b9a", "#00695c"];
  var H = 200, PAD_L = 78, PAD_R = 12, PAD_T = 10, PAD_B = 24;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function num(v, digits) {
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    if (digits === undefined && a !== 0 && a < 1) return v.toLocaleString(undefined, { maximumSignificantDigits: 3 });
    return v.toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? (a < 10 ? 3 : 1) : digits });
  }
  function duration(s) {
    if (s < 1) return num(s * 1000, 0) + " ms";
    if (s < 120) return num(s, 2) + " s";
    if (s < 7200) return num(s / 60, 1) + " min";
    if (s < 172800) return num(s / 3600, 1) + " h";
    return num(s / 86400, 1) + " d";
  }
  function bytes(b) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (Math.abs(b) >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return num(b, 1) + " " + units[i];
  }
  function format(v, unit) {
    if (v === null || v === undefined) return "–";
    switch (unit) {
      case "s": case "dtdurations": return duration(v);
      case "ms": return duration(v / 1000);
      case "percentunit": return num(v * 100, 1) + " %";
      case "percent": return num(v, 1) + " %";
      case "reqps": return num(v) + " req/s";
      case "ops": return num(v) + " ops/s";
      case "bytes": return bytes(v);
      case "short": case "none": case "": return num(v);
      default: return num(v) + " " + unit;
    }
  }
  function clock(ts) {
    return new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function summarise(series) {
    var vals = series.values.filter(function (v) { return v !== null; });
    if (!vals.length) return { last: null, min: null, max: null, mean: null, count: 0 };
    var sum = vals.reduce(function (a, b) { return a + b; }, 0);
    var last = null;
    for (var i = series.values.length - 1; i >= 0; i--) { if (series.values[i] !== null) { last = series.values[i]; break; } }
    return { last: last, min: Math.min.apply(null, vals), max: Math.max.apply(null, vals), mean: sum / vals.length, count: vals.length };
  }

  function breach(value, thresholds) {
    var worst = null;
    (thresholds || []).forEach(function (t) {
      var bad = t.mode === "below" ? value < t.value : value > t.value;
      if (bad && (!worst || t.severity === "critical")) worst = t;
    });
    return worst;
  }

  function drawTimeseries(fig, data, unit) {
    // drawn at the figure's real width so that text keeps its size in narrow panels
    var W = Math.max(280, Math.round(fig.getBoundingClientRect().width) || 640);
    var xs = data.timestamps, lo = Infinity, hi = -Infinity;
    data.series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
    data.thresholds.forEach(function (t) { lo = Math.min(lo, t.value); hi = Math.max(hi, t.value); });
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    lo = Math.min(0, lo);
    if (hi === lo) hi = lo + 1;
    hi += (hi - lo) * 0.05;
    var x0 = xs[0], x1 = xs[xs.length - 1] || x0 + 1;
    function X(t) { return PAD_L + (t - x0) / Math.max(1, x1 - x0) * (W - PAD_L - PAD_R); }
    function Y(v) { return PAD_T + (1 - (v - lo) / (hi - lo)) * (H - PAD_T - PAD_B); }
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, "aria-hidden": "true", focusable: "false" });
    for (var g = 0; g <= 4; g++) {
      var v = lo + (hi - lo) * g / 4, y = Y(v);
      root.appendChild(svg("line", { x1: PAD_L, x2: W - PAD_R, y1: y, y2: y, "class": "gridline" }));
      root.appendChild(svg("text", { x: PAD_L - 6, y: y + 4, "text-anchor": "end", "class": "axis" }, format(v, unit)));
    }
    root.appendChild(svg("text", { x: PAD_L, y: H - 6, "class": "axis" }, clock(x0)));
    root.appendChild(svg("text", { x: W - PAD_R, y: H - 6, "text-anchor": "end", "class": "axis" }, clock(x1)));
    data.thresholds.forEach(function (t) {
      var y = Y(t.value), cls = "threshold threshold-" + t.severity;
      root.appendChild(svg("line", { x1: PAD_L, x2: W - PAD_R, y1: y, y2: y, "class": cls }));
      root.appendChild(svg("text", { x: W - PAD_R - 4, y: y - 4, "text-anchor": "end", "class": "axis threshold-label-" + t.severity },
        t.severity + " " + format(t.value, unit)));
    });
    data.series.forEach(function (s, i) {
      var d = "", pen = false;
      s.values.forEach(function (v, j) {
        if (v === null) { pen = false; return; }
        d += (pen ? "L" : "M") + X(xs[j]).toFixed(1) + " " + Y(v).toFixed(1);
        pen = true;
      });
      if (d.indexOf("L") < 0 && d) {  // a single point: draw a dot so it is visible
        var m = d.slice(1).split(" ");
        root.appendChild(svg("circle", { cx: m[0], cy: m[1], r: 2.5, fill: COLORS[i % COLORS.length] }));
      }
      root.appendChild(svg("path", { d: d, "class": "line", stroke: COLORS[i % COLORS.length] }));
    });
    fig.appendChild(root);
    var legend = el("ul", { "class": "legend" });
    data.series.forEach(function (s, i) {
      var item = el("li");
      var sw = el("span", { "class": "swatch", "aria-hidden": "true" });
      sw.style.background = COLORS[i % COLORS.length];
      item.appendChild(sw);
      item.appendChild(document.createTextNode(s.name + ": " + format(summarise(s).last, unit)));
      legend.appendChild(item);
    });
    fig.appendChild(legend);
  }

  function drawStats(fig, data, unit) {
    var box = el("div", { "class": "stats" });
    data.series.forEach(function (s) {
      var last = summarise(s).last, item = el("div", { "class": "stat" });
      item.appendChild(el("span", { "class": "value" }, format(last, unit)));
      item.appendChild(el("span", { "class": "name" }, s.name));
      if (last !== null && (unit === "percentunit" || unit === "percent")) {
        var bar = el("span", { "class": "bar", "aria-hidden": "true" }), fill = el("span");
        fill.style.width = Math.max(0, Math.min(100, unit === "percent" ? last : last * 100)) + "%";
        bar.appendChild(fill);
        item.appendChild(bar);
      }
      var t = last === null ? null : breach(last, data.thresholds);
      if (t) item.appendChild(el("span", { "class": "badge badge-" + (t.severity === "critical" ? "fail" : "warn") },
        "▲ " + (t.mode === "below" ? "below " : "above ") + t.severity + " threshold (" + t.alert + ")"));
      box.appendChild(item);
    });
    fig.appendChild(box);
  }

  function fillTable(section, data, unit) {
    var body = section.querySelector(".table-alt tbody");
    body.textContent = "";
    data.series.forEach(function (s) {
      var st = summarise(s), row = el("tr");
      row.appendChild(el("th", { scope: "row" }, s.name));
      [st.last, st.min, st.max, st.mean].forEach(function (v) { row.appendChild(el("td", {}, format(v, unit))); });
      row.appendChild(el("td", {}, String(st.count)));
      body.appendChild(row);
    });
    if (data.kind === "table") section.querySelector(".table-alt").open = true;
  }

  function render(section, data) {
    var fig = section.querySelector(".chart"), status = section.querySelector(".status");
    var unit = section.dataset.unit, title = section.querySelector("h2").textContent;
    fig.textContent = "";
    var points = 0;
    data.series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null) points++; }); });
    fig.setAttribute("data-points", String(points));
    fig.setAttribute("data-series", String(data.series.length));
    if (points === 0) {
      section.dataset.state = "empty";
      fig.setAttribute("aria-label", title + ": no data in this range");
      status.textContent = "No data in this range yet: nothing recorded this metric, or a rate still waits for its second sample.";
    } else {
      section.dataset.state = "ok";
      if (section.dataset.kind === "timeseries") drawTimeseries(fig, data, unit); else drawStats(fig, data, unit);
      var lasts = data.series.map(function (s) { return s.name + " " + format(summarise(s).last, unit); });
      fig.setAttribute("aria-label", title + ", last values: " + lasts.slice(0, 6).join("; ") + ". The data table below has every series.");
      status.textContent = data.series.length + " series, " + points + " points" +
        (data.hidden_series ? " (" + data.hidden_series + " more not drawn)" : "") + ".";
    }
    if (data.errors && data.errors.length) status.textContent += " Query problem: " + data.errors.join("; ");
    fillTable(section, data, unit);
  }

  function load(section) {
    return fetch(section.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location.href = "/ops/login?next=" + encodeURIComponent(location.pathname + location.search); return null; }
        return r.json().then(function (body) { if (!r.ok) throw new Error(body.detail || r.statusText); return body; });
      })
      .then(function (data) { if (data) render(section, data); })
      .catch(function (err) {
        section.dataset.state = "error";
        section.querySelector(".status").textContent = "Could not load: " + err.message;
      });
  }

  function loadAll() {
    var panels = Array.prototype.slice.call(document.querySelectorAll(".panel[data-url]"));
    return Promise.all(panels.map(load)).then(function () {
      var out = document.getElementById("updated");
      if (out) out.textContent = "Updated " + new Date().toLocaleTimeString();
      document.body.setAttribute("data-loaded", String(Date.now()));
    });
  }

  function start() {
    var grid = document.getElementById("panels");
    if (!grid) return;
    loadAll();
    var every = parseInt(grid.dataset.refresh || "0", 10), timer = null, box = document.getElementById("refresh");
    function arm(on) {
      if (timer) { clearInterval(timer); timer = null; }
      if (on) timer = setInterval(function () { if (!document.hidden) loadAll(); }, (every || 15) * 1000);
    }
    arm(every > 0);
    if (box) box.addEventListener("change", function () {
      arm(box.checked);
      var url = new URL(location.href);
      url.searchParams.set("refresh", box.checked ? "on" : "off");
      history.replaceState(null, "", url);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
