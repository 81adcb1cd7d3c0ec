//! Benchmark (not a test): the tokenizer alone, one call on a 100,000-line batch of the anchor corpus,
//! the Wasm component against the built-in native tokenizer, then the local combine of its words (a fused
//! `map_to_pair` and `sum`). Prints nanoseconds per word, so changes to the guest SDK or the combine can be
//! judged without the rest of the engine around them.
//!
//!     cargo bench -p weir --bench tokenizer

mod common;

use std::time::{Duration, Instant};

use common::{corpus, tokenizer};
use weir::graph::spec::ReducerKind;
use weir::operator::BatchOperator;
use weir::operator::native::Tokenize;
use weir::operator::partials::Partials;
use weir::operator::reduce::Agg;
use weir::operator::wasm::{Limits, PluginEngine, PluginInstance};
use weir_sdk::packed::{Batch, ValueRef};

const ROUNDS: usize = 20;

/// Best time of `ROUNDS` runs of `f` on `batch`, in nanoseconds per word of the input (`words`,
/// counted without the engine); every run must give exactly that many words.
fn best(batch: &Batch, words: usize, mut f: impl FnMut(Batch) -> (Batch, Batch)) -> f64 {
    let mut input = batch.clone();
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let (out, back) = f(input);
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(out.len(), words, "the tokenizer's words differ from the independent count");
        best = best.min(secs * 1e9 / words as f64);
        input = back;
    }
    best
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("tokenizer: benchmark");
        return;
    }
    let text = std::fs::read_to_string(corpus().join("part-0000.txt")).expect("corpus");
    let mut batch = Batch::new();
    text.lines().for_each(|l| batch.push(None, ValueRef::Text(l), 1000));
    let words = text.split_ascii_whitespace().count();
    let engine = PluginEngine::new().expect("engine");
    let plugin = engine.load(&tokenizer()).expect("tokenizer component");
    let limits = Limits { deadline: Duration::from_secs(10), memory: 1 << 30 };
    let mut instance = PluginInstance::new(&plugin, limits, "bench", "tokenize").expect("instance");
    let wasm = best(&batch, words, |b| {
        let (out, back) = instance.process(1000, b);
        let out = out.expect("the plugin's batch");
        assert!(out.rejected.is_empty(), "the plugin refused records: {:?}", out.rejected.first());
        (out.records, back)
    });
    let native = best(&batch, words, |b| (Tokenize.process(1000, b.clone()), b));
    println!("tokenizer on {} lines, best of {ROUNDS} calls", batch.len());
    println!("wasm    {wasm:>6.1} ns/word");
    println!("native  {native:>6.1} ns/word (includes cloning the input)");
    println!("wasm/native time: {:.2}", wasm / native);
    let words = Tokenize.process(1000, batch.clone());
    let mut p = Partials::default();
    let mut combine = f64::MAX;
    for _ in 0..ROUNDS {
        p.clear();
        let start = Instant::now();
        p.add_values(std::slice::from_ref(&words), Agg::I64(1), ReducerKind::Sum);
        combine = combine.min(start.elapsed().as_secs_f64() * 1e9 / words.len() as f64);
    }
    println!("combine {combine:>6.1} ns/word ({} distinct words, tables kept warm as in a job)", p.len());
}
