// faultline's live dashboard: report.js's page fed by the Engine's event
// stream. It opens an EventSource on the URL in #live-config (each message
// one journal event as JSON, id: its sequence number; named or unnamed
// messages alike) and folds each event into report.js's data: a fault band
// opens at fault.applied and closes at fault.healed, a request becomes its
// client's point, DNS answers are counted per second by rcode, target states
// go on their lanes. It redraws at most every REDRAW_MS, keeps the last
// `window` seconds and at most `max_points` points per client, and shows
// its state in <body data-live> (JSON: connected, events, faults with
// open/closed bands) for people and the headless test alike.
(function () {
  "use strict";
  var cfgEl = document.getElementById("live-config");
  if (!cfgEl || !window.faultlineReport) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var data = window.faultlineReport.data;
  var WINDOW = cfg.window || 600;
  var MAX_POINTS = cfg.max_points || 3000;
  var MAX_FAULTS = 200, MAX_STATES = 500, REDRAW_MS = 400;
  var TYPES = ["run.start", "fault.applied", "fault.healed", "client.start", "request", "dns.query", "target.state", "harness.lag", "link.toxic"];

  var state = { connected: false, ended: false, gaps: 0, events: 0, last_seq: 0, errors: 0 };
  var clients = {};  // name → { chart, requests, errors, region }
  var lanes = {};    // region/target → lane
  var dirty = true;
  // The journal's clock runs on between events: anchor it to this page's.
  var anchor = { t: (cfg.now_ms || 0) / 1000, at: performance.now() };

  data.live = true;
  data.status = "connecting";
  var assertions = document.getElementById("assertions");
  if (assertions && assertions.parentNode) assertions.parentNode.style.display = "none";

  function clock() { return anchor.t + (performance.now() - anchor.at) / 1000; }
  function seen(t) {
    if (t > anchor.t) anchor = { t: t, at: performance.now() };
  }

  function client(name, strategy, primary) {
    var c = clients[name];
    if (!c) {
      c = clients[name] = { chart: { name: name, strategy: strategy || "", primary: primary || "", marks: [], t: [], latency: [], ok: [], region: [], "class": [], classes: {}, requests: 0 },
        requests: 0, errors: 0, region: "" };
      data.clients.push(c.chart);
      data.clients.sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
    }
    if (strategy) c.chart.strategy = strategy;
    if (primary) c.chart.primary = primary;
    return c;
  }

  function region(r) {
    if (r && data.regions.indexOf(r) < 0) {
      data.regions.push(r);
      data.regions.sort();
    }
  }

  // A request's point, kept in time order (they complete nearly in order).
  function request(ev) {
    if (ev.probe) return; // probes are not requests (as in the report)
    var c = client(ev.client);
    var ok = ev.ok === true;
    var end = (ev.t_ms + (ev.latency_ms || 0)) / 1000;
    var ch = c.chart;
    var i = ch.t.length;
    while (i > 0 && ch.t[i - 1] > end) i--;
    ch.t.splice(i, 0, end);
    ch.latency.splice(i, 0, Math.max(ev.latency_ms || 0, 0.01));
    ch.ok.splice(i, 0, ok);
    ch.region.splice(i, 0, ev.region || "");
    ch["class"].splice(i, 0, ev.error || "");
    c.requests++;
    ch.requests = c.requests;
    if (!ok) {
      c.errors++;
      ch.classes[ev.error || "other"] = (ch.classes[ev.error || "other"] || 0) + 1;
    }
    if (ev.region) c.region = ev.region;
    region(ev.region);
    seen(end);
  }

  function dns(ev) {
    var d = data.dns;
    var rcode = ev.rcode || "?";
    if (rcode === "NOERROR" && ev.answers === 0) rcode = "NODATA";
    var t = ev.t_ms / 1000;
    var i = Math.floor(t / d.bucket);
    if (!d.t.length) d.t.push(i * d.bucket);
    var first = Math.round(d.t[0] / d.bucket);
    if (i < first) return; // older than what is kept
    while (first + d.t.length <= i) {
      d.t.push((first + d.t.length) * d.bucket);
      Object.keys(d.rcodes).forEach(function (r) { d.rcodes[r].push(0); });
    }
    if (!d.rcodes[rcode]) d.rcodes[rcode] = d.t.map(function () { return 0; });
    d.rcodes[rcode][i - first] += 1 / d.bucket;
    seen(t);
  }

  function target(ev) {
    var key = ev.region + "/" + ev.target;
    var lane = lanes[key];
    if (!lane) {
      lane = lanes[key] = { region: ev.region, target: ev.target, states: [] };
      if (ev.from) lane.states.push({ t: data.from || 0, state: ev.from });
      data.targets.push(lane);
      data.targets.sort(function (a, b) { var x = a.region + "/" + a.target, y = b.region + "/" + b.target; return x < y ? -1 : x > y ? 1 : 0; });
    }
    var t = ev.t_ms / 1000;
    var last = lane.states[lane.states.length - 1];
    if (last && last.state === ev.to) return;
    lane.states.push({ t: Math.max(t, last ? last.t : 0), state: ev.to });
    seen(t);
  }

  function fault(ev, healed) {
    var t = ev.t_ms / 1000;
    var open = null;
    data.faults.forEach(function (f) { if (f.id === ev.fault && f.to == null) open = f; });
    if (!healed) {
      if (open) return; // already open (a seed, then the stream's replay)
      data.faults.push({ id: ev.fault, kind: ev.kind, target: ev.target, from: t, to: null, by: ev.by || "" });
    } else if (open) {
      open.to = Math.max(t, open.from);
    }
    seen(t);
  }

  function handle(ev) {
    if (!ev || typeof ev !== "object") return;
    if (ev.event && ev.seq != null) ev = ev.event; // a {seq, event} envelope
    state.events++;
    switch (ev.type) {
      case "run.start": if (ev.detail) data.experiment = ev.detail; break;
      case "fault.applied": fault(ev, false); break;
      case "fault.healed": fault(ev, true); break;
      case "client.start": client(ev.client, ev.strategy, ev.region); region(ev.region); break;
      case "request": request(ev); break;
      case "dns.query": dns(ev); break;
      case "target.state": target(ev); break;
      case "harness.lag":
        data.harness = "timer lag " + (ev.lag_ms || 0).toFixed(1) + " ms" + (ev.sched_p99_ms != null ? ", scheduling p99 " + ev.sched_p99_ms.toFixed(1) + " ms" : "");
        break;
      default: if (ev.t_ms) seen(ev.t_ms / 1000);
    }
    dirty = true;
  }

  // trim keeps the last WINDOW seconds and at most MAX_POINTS per client.
  function trim() {
    var from = Math.max(0, data.duration - WINDOW);
    data.from = from;
    data.clients.forEach(function (ch) {
      var drop = 0;
      while (drop < ch.t.length && ch.t[drop] < from) drop++;
      drop = Math.max(drop, ch.t.length - MAX_POINTS);
      if (drop > 0) ["t", "latency", "ok", "region", "class"].forEach(function (k) { ch[k].splice(0, drop); });
    });
    var d = data.dns;
    var drop = 0;
    while (drop < d.t.length && d.t[drop] + d.bucket < from) drop++;
    if (drop > 0) {
      d.t.splice(0, drop);
      Object.keys(d.rcodes).forEach(function (r) { d.rcodes[r].splice(0, drop); });
    }
    data.faults = data.faults.filter(function (f) { return f.to == null || f.to >= from; });
    if (data.faults.length > MAX_FAULTS) data.faults.splice(0, data.faults.length - MAX_FAULTS);
    data.targets.forEach(function (ln) {
      var keep = 0; // the state in effect at from stays
      while (keep + 1 < ln.states.length && ln.states[keep + 1].t <= from) keep++;
      if (ln.states.length - keep > MAX_STATES) keep = ln.states.length - MAX_STATES;
      if (keep > 0) ln.states.splice(0, keep);
    });
  }

  function table() {
    var rows = [["client", "strategy", "requests", "errors", "availability", "last region"]];
    data.clients.forEach(function (ch) {
      var c = clients[ch.name];
      rows.push([ch.name, ch.strategy, String(c.requests), String(c.errors),
        c.requests ? (100 * (c.requests - c.errors) / c.requests).toFixed(1) + " %" : "–", c.region || "–"]);
    });
    data.table = rows;
  }

  function publish() {
    document.body.dataset.live = JSON.stringify({
      connected: state.connected, ended: state.ended, gaps: state.gaps, events: state.events, last_seq: state.last_seq,
      faults: data.faults.map(function (f) { return { id: f.id, kind: f.kind, open: f.to == null }; }),
      clients: data.clients.map(function (ch) { return { name: ch.name, requests: clients[ch.name].requests }; }),
    });
  }

  function redraw() {
    var open = data.faults.some(function (f) { return f.to == null; }) && !state.ended;
    if (!dirty && !open) return;
    data.duration = Math.max(clock(), data.duration);
    trim();
    table();
    data.status = state.ended ? "ended" : state.connected ? "live" : "reconnecting";
    if (state.gaps) data.status += " (" + state.gaps + " gap" + (state.gaps > 1 ? "s" : "") + " in the stream)";
    dirty = false;
    window.faultlineReport.render();
    publish();
  }

  (cfg.seed || []).forEach(handle);
  state.events = 0;

  function onMessage(e) {
    var seq = Number(e.lastEventId);
    if (seq && seq <= state.last_seq) return; // a replay after reconnecting
    if (seq) state.last_seq = seq;
    var ev;
    try { ev = JSON.parse(e.data); } catch (err) { state.errors++; return; }
    handle(ev);
  }
  // EventSource reconnects by itself, with Last-Event-ID; a server that
  // refuses (an error status: the events it would resume after are gone)
  // ends it, and the page opens a new stream from now on.
  // The control API also sends named notices: "lagged" (the stream is cut
  // and EventSource resumes it), "gone" (events were no longer retained:
  // a gap) and "end" (the world is going down: no reconnecting).
  function connect() {
    var es = new EventSource(cfg.events);
    es.onmessage = onMessage;
    TYPES.forEach(function (t) { es.addEventListener(t, onMessage); });
    es.addEventListener("gone", function () { state.gaps++; dirty = true; });
    es.addEventListener("end", function () { state.ended = true; state.connected = false; es.close(); dirty = true; });
    es.onopen = function () { state.connected = true; dirty = true; };
    es.onerror = function () {
      state.connected = false;
      dirty = true;
      if (es.readyState === EventSource.CLOSED && !state.ended) setTimeout(connect, 2000);
    };
  }
  connect();

  redraw();
  publish();
  setInterval(function () {
    if (!document.hidden) redraw();
    else publish();
  }, REDRAW_MS);
})();
