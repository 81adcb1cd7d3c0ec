//! The job graph as an SVG drawn once per job: sources on the left, each stream one column right of its
//! deepest input, sinks after their stream. The page writes each node's live records per batch into
//! the text element `fig-<node>`.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::graph::plan::Plan;

const COLUMN: usize = 190;
const ROW: usize = 64;
const BOX_W: usize = 160;
const BOX_H: usize = 46;

/// A node: its name, what it is (`source`, `stream`, `sink`), what it does, and its inputs.
struct Node {
    name: String,
    role: &'static str,
    does: String,
    inputs: Vec<String>,
}

/// What a spec variant is called (`ReduceByKey`, `Kafka`), from its debug form.
fn variant(spec: &impl std::fmt::Debug) -> String {
    format!("{spec:?}").chars().take_while(|c| c.is_alphanumeric()).collect()
}

fn nodes(plan: &Plan) -> Vec<Node> {
    let mut all: Vec<Node> = plan
        .sources
        .iter()
        .map(|(n, s)| Node { name: n.clone(), role: "source", does: variant(s), inputs: vec![] })
        .collect();
    for (n, s) in &plan.streams {
        let inputs = s.inputs().into_iter().map(String::from).collect();
        all.push(Node { name: n.clone(), role: "stream", does: variant(s), inputs });
    }
    for (n, s) in &plan.sinks {
        all.push(Node { name: n.clone(), role: "sink", does: variant(s), inputs: vec![s.from().to_string()] });
    }
    all
}

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The plan's graph as SVG.
///
/// ```
/// let spec = "[job]\nname = \"g\"\nbatch_interval = \"1s\"\n[sources.in]\nkind = \"socket\"\nhost = \"127.0.0.1\"\nport = 1\n\
///             [streams.words]\nop = \"tokenize\"\nfrom = \"in\"\n[sinks.out]\nkind = \"print\"\nfrom = \"words\"\n";
/// let plan = weir::graph::plan::parse(std::path::Path::new("j.toml"), spec).unwrap();
/// let svg = weir::ui::graph::svg(&plan);
/// assert!(svg.contains("id=\"node-words\"") && svg.matches("<line").count() == 2);
/// ```
pub fn svg(plan: &Plan) -> String {
    let nodes = nodes(plan);
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    // Streams come after their inputs in the plan, and sinks after every stream.
    for n in &nodes {
        let d = n.inputs.iter().filter_map(|i| depth.get(i.as_str())).map(|d| d + 1).max().unwrap_or(0);
        depth.insert(&n.name, d);
    }
    let mut place: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut rows: BTreeMap<usize, usize> = BTreeMap::new();
    for n in &nodes {
        let col = depth[n.name.as_str()];
        let row = rows.entry(col).or_default();
        place.insert(&n.name, (10 + col * COLUMN, 10 + *row * ROW));
        *row += 1;
    }
    let width = 20 + (rows.len().max(1) - 1) * COLUMN + BOX_W;
    let height = 20 + rows.values().max().copied().unwrap_or(1).saturating_sub(1) * ROW + BOX_H;
    let mut s = format!(r#"<svg class="graph" viewBox="0 0 {width} {height}" width="{width}" height="{height}">"#);
    for n in &nodes {
        let (x, y) = place[n.name.as_str()];
        for i in &n.inputs {
            if let Some((ix, iy)) = place.get(i.as_str()) {
                let (x1, y1, y2) = (ix + BOX_W, iy + BOX_H / 2, y + BOX_H / 2);
                let _ = write!(s, r#"<line x1="{x1}" y1="{y1}" x2="{x}" y2="{y2}"/>"#);
            }
        }
    }
    for n in &nodes {
        let (x, y) = place[n.name.as_str()];
        let (name, does) = (escape(&n.name), escape(&n.does));
        let _ = write!(
            s,
            r#"<g id="node-{name}" class="{role}"><title>{role} {name}: {does}</title><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6"/><text x="{tx}" y="{ty}">{name}</text><text class="does" x="{tx}" y="{ty2}">{does} <tspan id="fig-{name}"></tspan></text></g>"#,
            role = n.role,
            tx = x + 8,
            ty = y + 18,
            ty2 = y + 36,
        );
    }
    s.push_str("</svg>");
    s
}
