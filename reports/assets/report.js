// faultline's report page: reads the run's data (the JSON in #report-data,
// written by reports.HTML) and draws the summary and the timeline charts with
// uPlot. It records how many charts it drew in <body data-charts-drawn>, and
// any script error in <body data-script-errors>, for the headless test. The
// live dashboard (live.js) changes the data as events arrive and draws the
// page again through window.faultlineReport.render.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var REGION_COLORS = ["#2e90fa", "#12b76a", "#7a5af8", "#f79009", "#ee46bc", "#15b79e", "#875bf7", "#0ba5ec"];
  var FAIL = "#f04438";
  var RCODE_COLORS = { NOERROR: "#12b76a", NODATA: "#f79009", NXDOMAIN: "#7a5af8", SERVFAIL: "#f04438",
    REFUSED: "#b42318", DROPPED: "#667085" };
  var STATE_COLORS = { healthy: "#32d583", unhealthy: "#f97066", initial: "#d0d5dd", draining: "#fdb022", unused: "#98a2b3" };
  var MARK_COLORS = { detect: "#dc6803", failover: "#039855", recover: "#1570ef" };

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text != null) e.textContent = text;
    return e;
  }
  function regionColor(r) {
    var i = data.regions.indexOf(r);
    return REGION_COLORS[(i < 0 ? 0 : i) % REGION_COLORS.length];
  }
  function num(v) { return v == null ? "null" : String(Math.round(v * 1000) / 1000); }

  // render draws the page from data, first taking down what it drew before.
  var previous = [];
  function render() {
  previous.forEach(function (u) { u.destroy(); });
  ["notices", "facts", "clients", "global", "global-notes", "load", "fleets", "assertions", "steady", "charts"].forEach(function (id) {
    document.getElementById(id).textContent = "";
  });

  // Header, facts, tables.
  document.getElementById("experiment").textContent = data.experiment;
  var verdict = document.getElementById("verdict");
  verdict.textContent = data.verdict;
  verdict.className = "verdict " + data.verdict;

  var facts = document.getElementById("facts");
  function card(k, v) {
    var c = el("div", "card");
    c.appendChild(el("div", "k", k));
    c.appendChild(el("div", "v", v));
    facts.appendChild(c);
  }
  (data.notices || []).forEach(function (n) {
    document.getElementById("notices").appendChild(el("li", null, n));
  });
  card("duration", data.duration.toFixed(1) + " s");
  card("harness", data.harness);
  card("run", data.status + (data.reason ? ": " + data.reason : ""));
  if (data.seed != null) card("seed", String(data.seed));
  (data.faults || []).forEach(function (f) {
    card("fault " + f.id + ": " + f.kind, f.target.replace(/\.$/, "") + "  " + f.from.toFixed(2) + "–" +
      (f.to == null ? (data.verdict === "live" ? "active" : "never healed") : f.to.toFixed(2)) + " s" +
      (f.by ? "  applied by " + f.by + (f.healed_by ? ", healed by " + f.healed_by : "") : ""));
  });

  var table = document.getElementById("clients");
  (data.table || []).forEach(function (row, i) {
    var tr = el("tr");
    row.forEach(function (cell) { tr.appendChild(el(i === 0 ? "th" : "td", null, cell)); });
    table.appendChild(tr);
  });

  // The global table: what each client's failover cost in data.
  var global = document.getElementById("global");
  (data.global_table || []).forEach(function (row, i) {
    var tr = el("tr");
    row.forEach(function (cell) { tr.appendChild(el(i === 0 ? "th" : "td", null, cell)); });
    global.appendChild(tr);
  });
  (data.global_notes || []).forEach(function (n) {
    document.getElementById("global-notes").appendChild(el("li", null, n));
  });

  // The load: the metrics of the herd after the heal (retry storms).
  [["load", data.load_table], ["fleets", data.fleet_table]].forEach(function (t) {
    var tbl = document.getElementById(t[0]);
    (t[1] || []).forEach(function (row, i) {
      var tr = el("tr");
      row.forEach(function (cell) { tr.appendChild(el(i === 0 ? "th" : "td", null, cell)); });
      tbl.appendChild(tr);
    });
  });

  function checks(id, rows, label) {
    var ul = document.getElementById(id);
    (rows || []).forEach(function (a) {
      var li = el("li", a.pass ? "" : "bad");
      li.appendChild(el("strong", null, (a.pass ? "✓ " : "✗ ") + a.client + ": " + a.expr));
      li.appendChild(el("span", null, "  value " + num(a.value) + (a.when ? " (" + label + " " + a.when + ")" : "")));
      if (a.note) li.appendChild(el("span", "note", "  " + a.note));
      ul.appendChild(li);
    });
  }
  checks("assertions", data.assertions, "");
  checks("steady", data.steady_state, "steady state,");
  if (!(data.assertions || []).length) document.getElementById("assertions").appendChild(el("li", "", "no assertions"));

  // Charts.
  var host = document.getElementById("charts");
  var width = Math.max(600, Math.min(1176, host.clientWidth - 26));
  var syncKey = uPlot.sync("faultline").key;
  var charts = [];

  function faultBands(u) {
    var ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = "rgba(240, 68, 56, 0.10)";
    (data.faults || []).forEach(function (f) {
      var x0 = u.valToPos(Math.max(f.from, from), "x", true);
      var x1 = u.valToPos(f.to == null ? data.duration : f.to, "x", true);
      if (x1 < x0) return;
      ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
    });
    ctx.restore();
  }

  function marks(list) {
    return function (u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.font = (11 * devicePixelRatio) + "px sans-serif";
      list.forEach(function (m, i) {
        var x = u.valToPos(m.t, "x", true);
        var color = MARK_COLORS[m.label] || "#344054";
        ctx.strokeStyle = color;
        ctx.fillStyle = color;
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.fillText(m.label + " " + m.t.toFixed(2) + "s", x + 4 * devicePixelRatio, u.bbox.top + (12 + 13 * i) * devicePixelRatio);
      });
      ctx.restore();
    };
  }

  function section(title, sub) {
    var div = el("div", "chart");
    var h = el("h3", null, title);
    if (sub) h.appendChild(el("small", null, sub));
    div.appendChild(h);
    host.appendChild(div);
    return div;
  }

  var Y_AXIS = 150; // every chart's left axis is as wide, so their time axes line up
  var X_SERIES = { label: "time", value: function (u, v) { return v == null ? "–" : v.toFixed(2) + " s"; } };
  var xAxis = { label: "seconds since the run started", values: function (u, vals) { return vals.map(function (v) { return v + "s"; }); } };
  var from = data.from || 0; // the live dashboard shows a window of the run
  function xScale() { return { time: false, range: [from, Math.max(data.duration, from + 0.001)] }; }

  // Each client's requests: points by outcome and region, at their latency.
  (data.clients || []).forEach(function (c) {
    var n = c.t.length;
    var regions = [];
    c.region.forEach(function (r) { if (regions.indexOf(r) < 0) regions.push(r); });
    var series = [X_SERIES];
    var columns = [c.t];
    regions.forEach(function (r) {
      var col = new Array(n);
      for (var i = 0; i < n; i++) col[i] = c.ok[i] && c.region[i] === r ? c.latency[i] : null;
      columns.push(col);
      series.push({ label: "ok " + r + (r === c.primary ? " (primary)" : ""), stroke: regionColor(r), paths: function () { return null; },
        points: { show: true, space: 0, size: 5, width: 0, fill: regionColor(r) }, value: function (u, v) { return v == null ? "–" : v.toFixed(1) + " ms"; } });
    });
    var failed = new Array(n);
    for (var i = 0; i < n; i++) failed[i] = c.ok[i] ? null : c.latency[i];
    columns.push(failed);
    series.push({ label: "failed", stroke: FAIL, paths: function () { return null; },
      points: { show: true, space: 0, size: 6, width: 0, fill: FAIL }, value: function (u, v) { return v == null ? "–" : v.toFixed(1) + " ms"; } });
    var classes = Object.keys(c.classes || {}).map(function (k) { return k + " " + c.classes[k]; }).join(", ");
    var many = c.n ? " · beyond the first " + c.n.filter(function (k) { return k === 1; }).length + ", each point is the slowest of its region's requests in a " +
      c.bucket.toFixed(2) + " s bucket" : "";
    var div = section(c.name, c.strategy + (c.primary ? ", primary " + c.primary : "") + " · " + (c.requests != null ? c.requests : n) + " requests" +
      (classes ? " · failures: " + classes : "") + many);
    charts.push(new uPlot({
      width: width, height: 230, cursor: { sync: { key: syncKey } },
      scales: { x: xScale(), y: { distr: 3 } },
      axes: [xAxis, { label: "latency (ms)", size: Y_AXIS }],
      series: series,
      hooks: { drawClear: [faultBands], draw: [marks(c.marks || [])] },
    }, columns, div));
  });

  // The DNS server's answers by rcode.
  var rcodes = Object.keys(data.dns.rcodes || {}).sort();
  if (rcodes.length) {
    var div = section("DNS answers", "by rcode, per second (NODATA: NOERROR with no answers; DROPPED: no answer sent)");
    var cols = [data.dns.t];
    var series = [X_SERIES];
    rcodes.forEach(function (r) {
      cols.push(data.dns.rcodes[r]);
      var color = RCODE_COLORS[r] || "#344054";
      series.push({ label: r, stroke: color, fill: color + "22", width: 1.5, paths: uPlot.paths.stepped({ align: 1 }),
        value: function (u, v) { return v == null ? "–" : v.toFixed(0) + "/s"; } });
    });
    charts.push(new uPlot({
      width: width, height: 200, cursor: { sync: { key: syncKey } },
      scales: { x: xScale() }, axes: [xAxis, { label: "answers/s", size: Y_AXIS }], series: series,
      hooks: { drawClear: [faultBands] },
    }, cols, div));
  }

  // Each target's health state, one lane per target.
  var lanes = data.targets || [];
  if (lanes.length) {
    var div = section("Target health", "each NLB target's state: healthy, unhealthy, initial, draining");
    var stateAt = function (lane) {
      return function (u) {
        var ctx = u.ctx;
        var laneH = u.bbox.height / lanes.length;
        ctx.save();
        lanes.forEach(function (ln, i) {
          var y = u.bbox.top + i * laneH + laneH * 0.18;
          ln.states.forEach(function (st, j) {
            var end = j + 1 < ln.states.length ? ln.states[j + 1].t : data.duration;
            if (end < from) return;
            var x0 = u.valToPos(Math.max(st.t, from), "x", true), x1 = u.valToPos(end, "x", true);
            ctx.fillStyle = STATE_COLORS[st.state] || "#98a2b3";
            ctx.fillRect(x0, y, Math.max(1, x1 - x0), laneH * 0.64);
          });
        });
        ctx.restore();
      };
    };
    charts.push(new uPlot({
      width: width, height: Math.max(90, 34 * lanes.length + 50), cursor: { sync: { key: syncKey }, y: false },
      legend: { show: false },
      scales: { x: xScale(), y: { range: [0, lanes.length] } },
      axes: [xAxis, { label: "target", size: Y_AXIS, font: "11px sans-serif", splits: function () { return lanes.map(function (_, i) { return lanes.length - i - 0.5; }); },
        values: function (u, vals) { return vals.map(function (v) { var l = lanes[Math.round(lanes.length - v - 0.5)]; return l ? l.region + " " + l.target.replace(/:\d+$/, "") : ""; }); } }],
      series: [X_SERIES, { label: "state", show: true, paths: function () { return null; }, points: { show: false } }],
      hooks: { drawClear: [faultBands], draw: [stateAt()] },
    }, [[from, data.duration], [null, null]], div));
    var legend = el("p", "hint");
    Object.keys(STATE_COLORS).forEach(function (s) {
      var sw = el("span", null, "■ ");
      sw.style.color = STATE_COLORS[s];
      legend.appendChild(sw);
      legend.appendChild(el("span", null, s + "   "));
    });
    div.appendChild(legend);
  }

  // The global table's replication: the lag of the writes that arrived,
  // per direction (the slowest in each bucket), and its pauses as bands.
  var repl = data.replication;
  if (repl && (repl.directions || []).length) {
    var div = section("Replication", "lag of the writes that arrived, per direction (the slowest per " + repl.bucket.toFixed(2) +
      " s bucket); bands in a direction's colour: its replication paused");
    var cols = [repl.t];
    var series = [X_SERIES];
    repl.directions.forEach(function (d, i) {
      cols.push(d.lag);
      var color = REGION_COLORS[i % REGION_COLORS.length];
      series.push({ label: d.from + " → " + d.to, stroke: color, width: 1.5, spanGaps: false,
        points: { show: true, size: 4, fill: color }, value: function (u, v) { return v == null ? "–" : v.toFixed(1) + " ms"; } });
    });
    var pauses = function (u) {
      var ctx = u.ctx;
      ctx.save();
      repl.directions.forEach(function (d, i) {
        ctx.fillStyle = REGION_COLORS[i % REGION_COLORS.length] + "33";
        var h = u.bbox.height / repl.directions.length;
        (d.pauses || []).forEach(function (p) {
          var to = p.to == null ? data.duration : p.to;
          if (to < from) return;
          var x0 = u.valToPos(Math.max(p.from, from), "x", true), x1 = u.valToPos(to, "x", true);
          ctx.fillRect(x0, u.bbox.top + i * h, Math.max(1, x1 - x0), h);
        });
      });
      ctx.restore();
    };
    charts.push(new uPlot({
      width: width, height: 200, cursor: { sync: { key: syncKey } },
      scales: { x: xScale() }, axes: [xAxis, { label: "replication lag (ms)", size: Y_AXIS }], series: series,
      hooks: { drawClear: [faultBands, pauses] },
    }, cols, div));
  }

  // The load per second at the backends (solid) and from the fleets
  // (dashed), against the backends' capacity (a grey line).
  var load = data.load;
  if (load && (load.series || []).length) {
    var div = section("Load", load.note);
    var LOAD_COLORS = { "offered at the backends": "#2e90fa", "served": "#12b76a", "throttled": FAIL,
      "fleet attempts": "#7a5af8", "fleet successes": "#15b79e" };
    var cols = [load.t];
    var series = [X_SERIES];
    load.series.forEach(function (s) {
      cols.push(s.values);
      var color = LOAD_COLORS[s.label] || "#344054";
      series.push({ label: s.label, stroke: color, width: 1.5, dash: s.side === "clients" ? [6, 4] : undefined,
        fill: s.label === "throttled" ? FAIL + "22" : undefined, paths: uPlot.paths.stepped({ align: 1 }),
        value: function (u, v) { return v == null ? "–" : v.toFixed(0) + "/s"; } });
    });
    var capacity = function (u) {
      if (load.capacity == null) return;
      var ctx = u.ctx, y = u.valToPos(load.capacity, "y", true);
      ctx.save();
      ctx.strokeStyle = "#98a2b3";
      ctx.setLineDash([2, 3]);
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.restore();
    };
    var top = load.capacity == null ? 0 : load.capacity * 1.1;
    charts.push(new uPlot({
      width: width, height: 230, cursor: { sync: { key: syncKey } },
      scales: { x: xScale(), y: { range: function (u, lo, hi) { return [0, Math.max(hi, top, 1)]; } } },
      axes: [xAxis, { label: "requests/s", size: Y_AXIS }], series: series,
      hooks: { drawClear: [faultBands], draw: [capacity] },
    }, cols, div));
  }

  // Count the charts that really painted: a canvas with pixels on it. uPlot
  // commits its drawing in a microtask, so count after it.
  previous = charts;
  setTimeout(countDrawn, 0);
  function countDrawn() {
  var drawn = 0;
  charts.forEach(function (u) {
    var img = u.ctx.getImageData(0, 0, u.ctx.canvas.width, u.ctx.canvas.height).data;
    var painted = 0;
    for (var i = 3; i < img.length; i += 16) if (img[i] > 0) painted++;
    if (painted > 100) drawn++;
  });
  document.body.dataset.chartsExpected = String(charts.length);
  document.body.dataset.chartsDrawn = String(drawn);
  }
  }
  render();
  window.faultlineReport = { data: data, render: render };
})();
