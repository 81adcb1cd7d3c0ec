// Weir's pages: a job's page and a big screen draw from the job's snapshot, then follow its live
// updates (server-sent events from /api/jobs/JOB/updates); the job list reloads itself.
"use strict";

const MAX_BATCHES = 1000; // as the server keeps (ui/view.rs BATCHES)
const TABLE_ROWS = 100;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fill(table, head, rows) {
  table.replaceChildren();
  const tr = el("tr");
  head.forEach((h) => tr.appendChild(el("th", h)));
  table.appendChild(tr);
  rows.forEach((r) => {
    const row = el("tr");
    r.forEach((c) => row.appendChild(el("td", c)));
    table.appendChild(row);
  });
}

const fmt = (n) => (n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en"));

function follow(job, on) {
  const source = new EventSource(`/api/jobs/${encodeURIComponent(job)}/updates`);
  for (const [name, f] of Object.entries(on)) {
    source.addEventListener(name, (e) => f(JSON.parse(e.data)));
  }
  window.addEventListener("beforeunload", () => source.close());
  return source;
}

// ---- a job's page ----

const SERIES = [
  ["rate", (b) => b.rate],
  ["scheduling", (b) => b.scheduling_delay_ms],
  ["processing", (b) => b.processing_ms],
  ["total", (b) => b.total_delay_ms],
];

function jobPage(job) {
  const batches = [];
  const charts = {};
  for (const [id] of SERIES) {
    const box = document.getElementById(`chart-${id}`);
    const opts = {
      width: Math.max(280, box.clientWidth || 420),
      height: 160,
      legend: { show: false },
      series: [{}, { stroke: "#2a6df4", fill: "rgba(42,109,244,0.12)", spanGaps: true }],
      axes: [{}, { size: 60 }],
    };
    charts[id] = new uPlot(opts, [[], []], box);
  }

  function draw() {
    const xs = batches.map((b) => b.time / 1000);
    for (const [id, f] of SERIES) {
      const ys = batches.map(f);
      charts[id].setData([xs, ys]);
      const known = ys.filter((y) => y !== null && y !== undefined);
      const avg = known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
      document.getElementById(`avg-${id}`).textContent = `avg ${fmt(avg)}`;
    }
    const body = document.querySelector("#batches tbody");
    body.replaceChildren();
    for (const b of batches.slice(-TABLE_ROWS).reverse()) {
      const tr = el("tr");
      const streams = Object.entries(b.streams)
        .map(([s, [i, o, ms]]) => `${s} ${ms.toFixed(1)} (${i} → ${o})`)
        .join(", ");
      const watermark = b.watermark === null || b.watermark === undefined ? "" : new Date(b.watermark).toISOString();
      [b.time, fmt(b.records), fmt(b.rate), fmt(b.scheduling_delay_ms), fmt(b.processing_ms), fmt(b.total_delay_ms), watermark, streams]
        .forEach((c) => tr.appendChild(el("td", c)));
      body.appendChild(tr);
    }
    const last = batches[batches.length - 1];
    if (last) {
      for (const [s, [, out]] of Object.entries(last.streams)) {
        const fig = document.getElementById(`fig-${s}`);
        if (fig) fig.textContent = `· ${fmt(out)}/batch`;
      }
    }
  }

  function add(b) {
    if (batches.length && b.time <= batches[batches.length - 1].time) return;
    batches.push(b);
    if (batches.length > MAX_BATCHES) batches.shift();
  }

  function panels(p) {
    document.getElementById("state").textContent = p.state;
    fill(document.getElementById("receivers"), ["Source", "Last batch", "Records", "Total", "Lag"],
      Object.entries(p.receivers).map(([n, r]) => [n, r.last_batch, fmt(r.last_records), fmt(r.total), fmt(r.lag)]));
    fill(document.getElementById("sinks"), ["Sink", "Last batch", "Batches", "Records", "Write ms", "Queued"],
      Object.entries(p.sinks).map(([n, s]) => [n, s.last_batch, fmt(s.batches), fmt(s.records), s.last_write_ms, s.queued]));
    fill(document.getElementById("plugins"),
      ["Stream", "Version", "Calls", "ms in plugin", "Traps", "Deadline", "Memory cap", "Peak memory", "Failed batches", "Last failure"],
      Object.entries(p.plugins).map(([n, s]) => [
        n, s.version ? `${s.version} from ${s.swapped_at}` : "as started", fmt(s.calls), fmt(s.busy_ms), s.traps,
        s.deadline_hits, s.memory_cap_hits, `${(s.memory_peak / 1048576).toFixed(1)} MiB`, s.failures, s.last_failure]));
    fill(document.getElementById("checkpoints"), ["Batch", "Took ms", "State bytes", "Offsets"],
      p.checkpoints.slice().reverse().map((c) => [c.time, c.duration_ms, fmt(c.bytes), JSON.stringify(c.offsets)]));
    fill(document.getElementById("dead"), ["Operator", "Batch", "Reason"],
      p.dead_letters.slice().reverse().map((d) => [d.operator, d.batch_time ?? "", d.reason]));
    document.getElementById("dead-total").textContent = `(${p.dead_total})`;
    logLines(p.log);
  }

  function logLines(lines) {
    const ul = document.getElementById("log");
    ul.replaceChildren(...lines.slice().reverse().map((l) => el("li", l)));
  }

  follow(job, {
    snapshot: (s) => { s.batches.forEach(add); panels(s.panels); draw(); },
    batch: (u) => { add(u.batch); panels(u.panels); draw(); },
    state: (u) => { document.getElementById("state").textContent = u.state; logLines(u.log); },
  });
}

// ---- a big screen ----

function screenPage(job, stream) {
  function show(board) {
    const list = document.getElementById("board");
    list.replaceChildren(...board.rows.map(([k, v], i) => {
      const li = el("li");
      li.appendChild(el("span", `${i + 1}. ${k}`, "key"));
      li.appendChild(el("span", fmt(v), "value"));
      return li;
    }));
    document.getElementById("screen-time").textContent = board.time ? `batch ${board.time}` : "waiting for the first batch";
  }
  follow(job, {
    snapshot: (s) => { if (s.boards[stream]) show(s.boards[stream]); },
    screen: (u) => { if (u.stream === stream) show(u.board); },
  });
}

const body = document.body.dataset;
if (body.refresh) setTimeout(() => location.reload(), Number(body.refresh));
else if (body.screen) screenPage(body.job, body.screen);
else if (body.job) jobPage(body.job);
