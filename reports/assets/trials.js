// faultline's trials page: reads the trials' data (the JSON in #trials-data,
// written by reports.TrialsHTML) and draws a histogram of each metric per
// client with uPlot. Like report.js it records the charts it drew in
// <body data-charts-expected/-drawn>, and script errors in
// <body data-script-errors>, for the headless test.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trials-data").textContent);
  var BAR = "#2e90fa";

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text != null) e.textContent = text;
    return e;
  }
  function num(v) { return v == null ? "null" : String(Math.round(v * 1000) / 1000); }

  document.getElementById("experiment").textContent = data.experiment + " · " + data.trials.length + " trials";
  var verdict = document.getElementById("verdict");
  verdict.textContent = data.verdict;
  verdict.className = "verdict " + data.verdict;

  (data.notices || []).forEach(function (n) { document.getElementById("notices").appendChild(el("li", null, n)); });

  var list = document.getElementById("assertions");
  (data.assertions || []).forEach(function (a) {
    var li = el("li", a.pass ? "pass" : "fail");
    li.appendChild(el("span", "mark", a.pass ? "✓ " : "✗ "));
    li.appendChild(el("span", null, a.client + ": "));
    li.appendChild(el("code", null, a.expr));
    li.appendChild(el("span", null, " value " + a.value + ", held in " + a.held + " of " + a.of + " trials" + (a.note ? " (" + a.note + ")" : "")));
    list.appendChild(li);
  });

  function table(id, rows) {
    var t = document.getElementById(id);
    rows.forEach(function (row, i) {
      var tr = el("tr");
      row.forEach(function (cell) { tr.appendChild(el(i === 0 ? "th" : "td", null, cell)); });
      t.appendChild(tr);
    });
  }
  table("trials", [["trial", "seed", "verdict", "duration", "why"]].concat(data.trials.map(function (t) {
    return [String(t.n), t.seed == null ? "–" : String(t.seed), t.verdict, (t.duration_ms / 1000).toFixed(1) + " s", (t.reasons || []).join("; ")];
  })));
  table("dists", data.table || []);
  // The reasons wrap rather than widen the page.
  Array.prototype.forEach.call(document.querySelectorAll("#trials td:last-child"), function (td) { td.style.whiteSpace = "normal"; td.style.textAlign = "left"; });

  var charts = [];
  var holder = document.getElementById("charts");
  var width = Math.min(560, Math.max(300, (holder.clientWidth || 1100) / 2 - 56));
  (data.histograms || []).forEach(function (h) {
    var box = el("div", "chart histogram");
    box.style.display = "inline-block";
    box.style.verticalAlign = "top";
    box.style.marginRight = "16px";
    box.style.width = (width + 20) + "px";
    box.appendChild(el("h3", null, h.client + " · " + h.metric));
    box.appendChild(el("p", "hint", h.dist + (h.nulls ? " · null in " + h.nulls + " trials" : "")));
    holder.appendChild(box);
    var centers = [], counts = [];
    for (var i = 0; i < h.counts.length; i++) {
      centers.push((h.edges[i] + h.edges[i + 1]) / 2);
      counts.push(h.counts[i]);
    }
    var lo = h.edges[0], hi = h.edges[h.edges.length - 1];
    var binWidth = (hi - lo) / h.counts.length;
    var maxCount = Math.max.apply(null, counts);
    // Enough decimals that neighbouring ticks differ (availability 0.975 … 0.976).
    var decimals = Math.max(0, Math.min(6, Math.ceil(-Math.log10((hi - lo) / 5 || 1)) + 1));
    var u = new uPlot({
      width: width, height: 200,
      scales: { x: { time: false, range: [lo, hi] }, y: { range: [0, maxCount + 1] } },
      legend: { show: true },
      axes: [{ label: h.metric, values: function (u, vals) { return vals.map(function (v) { return v == null ? "" : v.toFixed(decimals); }); } }, { label: "trials", values: function (u, vals) { return vals.map(function (v) { return v % 1 ? "" : String(v); }); } }],
      series: [
        { label: h.metric, value: function (u, v) { return v == null ? "–" : num(v - binWidth / 2) + " – " + num(v + binWidth / 2); } },
        { label: "trials", stroke: BAR, fill: BAR + "99", width: 1,
          paths: uPlot.paths.bars({ size: [1, Infinity], gap: 2 }), points: { show: false } }
      ]
    }, [centers, counts], box);
    charts.push(u);
  });

  // Count the charts that really painted: a canvas with pixels on it. uPlot
  // commits its drawing in a microtask, so count after it.
  setTimeout(function () {
    var drawn = 0;
    charts.forEach(function (u) {
      var img = u.ctx.getImageData(0, 0, u.ctx.canvas.width, u.ctx.canvas.height).data;
      var painted = 0;
      for (var i = 3; i < img.length; i += 16) if (img[i] > 0) painted++;
      if (painted > 100) drawn++;
    });
    document.body.dataset.chartsExpected = String(charts.length);
    document.body.dataset.chartsDrawn = String(drawn);
  }, 0);
})();
