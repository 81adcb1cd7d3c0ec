//! The UI's HTML: the job list, a job's page and a big screen. The pages are shells; `weir.js` fills
//! them from the job's snapshot and live updates (`/api/jobs/JOB/updates`, server-sent events).

use serde_json::Value as Json;

use super::graph::escape;

/// A whole page around `body`.
fn page(title: &str, body_attrs: &str, body: &str, scripts: &[&str]) -> String {
    let scripts: String = scripts.iter().map(|s| format!(r#"<script src="/assets/{s}"></script>"#)).collect();
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/uPlot.min.css"><link rel="stylesheet" href="/assets/weir.css">
</head><body {body_attrs}>{body}{scripts}</body></html>"#,
        title = escape(title)
    )
}

fn number(v: &Json, field: &str) -> String {
    v.get(field).and_then(Json::as_f64).map_or("–".into(), |n| format!("{n:.0}"))
}

/// The job list: one row per job with its state and latest batch; reloads every 2 s.
pub fn jobs(jobs: &[(String, Json)]) -> String {
    let mut rows = String::new();
    for (name, s) in jobs {
        let latest = &s["latest"];
        let link = format!(r#"<a href="/jobs/{}">{}</a>"#, urlencode(name), escape(name));
        rows.push_str(&format!(
            "<tr><td>{link}</td><td class=\"state\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(s["state"].as_str().unwrap_or("")),
            number(latest, "time"),
            number(latest, "rate"),
            number(latest, "processing_ms"),
            number(latest, "total_delay_ms"),
            s["dead_letters"],
        ));
    }
    if jobs.is_empty() {
        rows = r#"<tr><td colspan="7">No jobs yet.</td></tr>"#.into();
    }
    let body = format!(
        r#"<header><h1>Weir</h1><nav><a href="/metrics">/metrics</a></nav></header>
<main><h2>Jobs</h2><table id="jobs"><thead><tr><th>Job</th><th>State</th><th>Latest batch</th><th>Records/s</th>
<th>Processing ms</th><th>Total delay ms</th><th>Dead letters</th></tr></thead><tbody>{rows}</tbody></table></main>"#
    );
    page("Weir jobs", r#"data-refresh="2000""#, &body, &["weir.js"])
}

/// A job's page: the four charts of Spark's Streaming tab, the graph, the batch table and the panels.
pub fn job(name: &str, graph_svg: &str, screens: &[String]) -> String {
    let chart = |id: &str, title: &str| {
        format!(
            r#"<section class="chart"><h3>{title} <span class="avg" id="avg-{id}"></span></h3><div id="chart-{id}"></div></section>"#
        )
    };
    let screens: String = screens
        .iter()
        .map(|s| {
            format!(r#" <a href="/jobs/{}/screen/{}">big screen: {}</a>"#, urlencode(name), urlencode(s), escape(s))
        })
        .collect();
    let body = format!(
        r#"<header><h1><a href="/">Weir</a> / {n}</h1><span id="state" class="state"></span><nav>{screens}</nav></header>
<main><div class="charts">{c1}{c2}{c3}{c4}</div>
<h2>Job graph</h2><div id="graph">{graph_svg}</div>
<h2>Recent batches</h2><table id="batches"><thead><tr><th>Batch time</th><th>Records</th><th>Records/s</th>
<th>Scheduling delay ms</th><th>Processing ms</th><th>Total delay ms</th><th>Watermark</th><th>Per stream: ms of work (in → out)</th></tr></thead><tbody></tbody></table>
<div class="panels">
<section><h2>Receivers</h2><table id="receivers"></table></section>
<section><h2>Sinks</h2><table id="sinks"></table></section>
<section><h2>Plugins</h2><table id="plugins"></table></section>
<section><h2>Checkpoints</h2><table id="checkpoints"></table></section>
<section><h2>Dead letters <span id="dead-total"></span></h2><table id="dead"></table></section>
<section><h2>Log</h2><ul id="log"></ul></section>
</div></main>"#,
        n = escape(name),
        c1 = chart("rate", "Input rate (records/s)"),
        c2 = chart("scheduling", "Scheduling delay (ms)"),
        c3 = chart("processing", "Processing time (ms)"),
        c4 = chart("total", "Total delay (ms)"),
    );
    page(
        &format!("{name} · Weir"),
        &format!(r#"data-job="{}""#, escape(name)),
        &body,
        &["uPlot.iife.min.js", "weir.js"],
    )
}

/// A big screen: a stream's top keys and values in large type, live.
pub fn screen(job: &str, stream: &str) -> String {
    let body = format!(
        r#"<div class="screen"><h1>{s}</h1><p class="sub"><span id="screen-time"></span></p><ol id="board"></ol></div>"#,
        s = escape(stream)
    );
    let attrs = format!(r#"class="big" data-job="{}" data-screen="{}""#, escape(job), escape(stream));
    page(&format!("{stream} · {job}"), &attrs, &body, &["weir.js"])
}

/// A page saying what was not found.
pub fn not_found(message: &str) -> String {
    page(
        "Not found · Weir",
        "",
        &format!(
            r#"<main><h1>Not found</h1><p id="message">{}</p><p><a href="/">All jobs</a></p></main>"#,
            escape(message)
        ),
        &[],
    )
}

/// `text` made safe for one path segment of a URL.
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
