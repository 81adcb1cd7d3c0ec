//! `weir op test COMPONENT --text "…" | --file F [-p key=value]…`: runs a built component on sample
//! input, as one batch at time 1000 under the default limits, and prints what it returns: a transform's
//! records and refusals; a reducer's value per key; a state updater's new state per key (from no state)
//! and what it emits. Reducers and updaters read `key value` lines (a number value is an integer or a
//! float, anything else text). A source is polled once from its start (the input is not used) and prints
//! its records and offset; a sink writes the lines as one batch (it is granted no HTTP host here).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use weir::operator::wasm::{Limits, PluginEngine, PluginInstance};
use weir::render;
use weir_sdk::packed::Batch;
use weir_sdk::{Groups, Record, StateInput};

/// The batch time of the sample batch.
const TIME: u64 = 1000;

/// `weir op test` arguments.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The component (.wasm).
    component: PathBuf,
    /// An input line (repeat for more).
    #[arg(long, conflicts_with = "file")]
    text: Vec<String>,
    /// A file of input lines.
    #[arg(long)]
    file: Option<PathBuf>,
    /// A parameter the plugin declares, as `name=value` (repeat for more).
    #[arg(short = 'p', long = "param", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// A model file (`weir model train`), handed to the plugin as its `model` parameter, as a stream's
    /// `model` field is.
    #[arg(long)]
    model: Option<PathBuf>,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("`{s}`: write name=value"))
}

fn value(text: &str) -> Record<'static> {
    if let Ok(n) = text.parse::<i64>() {
        Record::i64(n)
    } else if let Ok(f) = text.parse::<f64>() {
        Record::f64(f)
    } else {
        Record::text(text.to_string())
    }
}

/// `key value` lines grouped by key, keys in first-seen order.
fn groups(lines: &[String]) -> Groups {
    let mut order: Vec<String> = Vec::new();
    let mut by_key: BTreeMap<String, Vec<Record<'static>>> = BTreeMap::new();
    for line in lines {
        let (k, v) = line.trim().split_once(char::is_whitespace).unwrap_or((line.trim(), ""));
        if !by_key.contains_key(k) {
            order.push(k.to_string());
        }
        by_key.entry(k.to_string()).or_default().push(value(v.trim()));
    }
    let pairs: Vec<(&str, Vec<Record<'static>>)> =
        order.iter().map(|k| (k.as_str(), by_key.remove(k).unwrap_or_default())).collect();
    Groups::from_pairs(&pairs)
}

fn records(batch: &Batch) -> impl Iterator<Item = serde_json::Value> + '_ {
    (0..batch.len()).map(|i| render::json(&batch.get(i)))
}

fn refusals(rejected: &[(u32, String)], what: impl Fn(usize) -> String) -> Vec<String> {
    rejected.iter().map(|(i, reason)| format!("refused {}: {reason}", what(*i as usize))).collect()
}

/// Runs the component on the input; the printed lines, or why it could not run.
pub fn run(args: &TestArgs) -> Result<Vec<String>, String> {
    let lines: Vec<String> = match &args.file {
        Some(f) => {
            std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?.lines().map(String::from).collect()
        }
        None => args.text.iter().flat_map(|t| t.lines().map(String::from)).collect(),
    };
    let mut params = args.params.clone();
    if let Some(m) = &args.model {
        params.push(("model".into(), std::fs::read_to_string(m).map_err(|e| format!("{}: {e}", m.display()))?));
    }
    let engine = PluginEngine::new().map_err(|e| e.to_string())?;
    let plugin = engine.load(&args.component).map_err(|e| e.to_string())?;
    let limits = Limits { deadline: std::time::Duration::from_secs(5), memory: 256 << 20 };
    if matches!(plugin.world, "source" | "sink") {
        return connector(&plugin, limits, &params, &lines);
    }
    if lines.is_empty() {
        return Err("give the input with --text or --file".into());
    }
    let mut inst = PluginInstance::new(&plugin, limits, "op-test", "test").map_err(|e| e.to_string())?;
    let d = inst.describe().map_err(|e| e.to_string())?;
    inst.init(&params.into_iter().collect()).map_err(|e| e.to_string())?;
    let mut out = vec![format!(
        "# {} {} ({}, {})",
        d.name,
        d.version,
        plugin.world,
        weir::operator::wasm::bindings::kind_name(d.kind)
    )];
    match plugin.world {
        "transform" => {
            let mut batch = Batch::new();
            lines.iter().for_each(|l| Record::text(l.as_str()).with_time(TIME as i64).push_to(&mut batch));
            let done = inst.process(TIME, batch).0.map_err(|e| e.to_string())?;
            out.extend(records(&done.records).map(|r| r.to_string()));
            out.extend(refusals(&done.rejected, |i| format!("line {} ({:?})", i + 1, lines.get(i).map_or("", |l| l))));
        }
        "reducer" => {
            let done = inst.reduce(false, groups(&lines)).0.map_err(|e| e.to_string())?;
            out.extend(records(&done.records).map(|r| r.to_string()));
            out.extend(refusals(&done.rejected, |i| format!("value {i}")));
        }
        _ => {
            let values = groups(&lines);
            let mut states = Batch::new();
            for g in 0..values.bounds.len().saturating_sub(1) {
                let key = values.values.get(values.bounds[g] as usize).key.unwrap_or_default().to_vec();
                Record::bytes(Vec::new()).with_key_bytes(key).push_to(&mut states);
            }
            let flags = vec![0; states.len()];
            let done = inst.update(TIME, StateInput { values, states, flags }).0.map_err(|e| e.to_string())?;
            for (i, state) in records(&done.states).enumerate() {
                let kept = done.keep.get(i).copied().unwrap_or(false);
                out.push(
                    json!({"state": if kept { state } else { json!({"key": state["key"], "removed": true}) }})
                        .to_string(),
                );
            }
            out.extend(records(&done.emitted).map(|r| json!({"emitted": r}).to_string()));
            out.extend(refusals(&done.rejected, |i| format!("value {i}")));
        }
    }
    Ok(out)
}

/// Records a source polls once from its start.
const SOURCE_RECORDS: u32 = 10;

/// A source polled once from its start, or a sink given the lines as one batch.
fn connector(
    plugin: &weir::operator::wasm::LoadedPlugin,
    limits: Limits,
    params: &[(String, String)],
    lines: &[String],
) -> Result<Vec<String>, String> {
    let gate = weir::operator::wasm::http::HttpGate::closed("test");
    let mut inst = PluginInstance::with_gate(plugin, limits, "op-test", "test", gate).map_err(|e| e.to_string())?;
    let about = inst.about().map_err(|e| e.to_string())?;
    inst.init(&params.iter().cloned().collect()).map_err(|e| e.to_string())?;
    let mut out = vec![format!("# {} {} ({})", about.name, about.version, plugin.world)];
    if plugin.world == "source" {
        let polled = inst.poll(SOURCE_RECORDS, None).map_err(|e| e.to_string())??;
        out.extend(records(&polled.records).map(|r| r.to_string()));
        out.push(json!({"offset": polled.offset, "finished": polled.finished}).to_string());
    } else {
        let mut batch = Batch::new();
        lines.iter().for_each(|l| Record::text(l.as_str()).with_time(TIME as i64).push_to(&mut batch));
        let n = batch.len();
        let written = inst.write(TIME, batch).0.map_err(|e| e.to_string())?;
        if let Some(denied) = inst.take_denied() {
            return Err(denied);
        }
        written?;
        out.push(format!("wrote {n} records at batch time {TIME}"));
    }
    Ok(out)
}
