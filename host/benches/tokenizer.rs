//! Benchmark (not a test): the tokenizer alone, one call on a 100,000-line batch of each corpus (the
//! anchor and the natural-text one; `WEIR_BENCH_CORPUS` picks one),
//! the Wasm component against the built-in native tokenizer, then the local combine of its words (a fused
//! `map_to_pair` and `sum`). Prints nanoseconds per word, so changes to the guest SDK or the combine can be
//! judged without the rest of the engine around them.
//!
//!     cargo bench -p weir --bench tokenizer

mod common;

use std::time::{Duration, Instant};

use common::{Corpus, tokenizer};
use weir::graph::spec::ReducerKind;
use weir::operator::BatchOperator;
use weir::operator::native::Tokenize;
use weir::operator::partials::Partials;
use weir::operator::reduce::Agg;
use weir::operator::wasm::{Limits, PluginEngine, PluginInstance};
use weir_sdk::packed::{Batch, Kind, ValueRef};

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
    let engine = PluginEngine::new().expect("engine");
    let plugin = engine.load(&tokenizer()).expect("tokenizer component");
    let limits = Limits { deadline: Duration::from_secs(10), memory: 1 << 30 };
    let mut instance = PluginInstance::new(&plugin, limits, "bench", "tokenize").expect("instance");
    for corpus in Corpus::chosen() {
        let text = std::fs::read_to_string(corpus.dir().join("part-0000.txt")).expect("corpus");
        let mut batch = Batch::new();
        text.lines().for_each(|l| batch.push(None, ValueRef::Text(l), 1000));
        let words = text.split_whitespace().count();
        let wasm = best(&batch, words, |b| {
            let (out, back) = instance.process(1000, b);
            let out = out.expect("the plugin's batch");
            assert!(out.rejected.is_empty(), "the plugin refused records: {:?}", out.rejected.first());
            (out.records, back)
        });
        let native = best(&batch, words, |b| (Tokenize.process(1000, b.clone()), b));
        println!(
            "\ntokenizer on {} lines of the {} corpus ({:.1} bytes a word), best of {ROUNDS} calls",
            batch.len(),
            corpus.name(),
            text.len() as f64 / words as f64 - 1.0
        );
        println!("wasm    {wasm:>6.1} ns/word");
        println!("native  {native:>6.1} ns/word (includes cloning the input)");
        println!("wasm/native speed: {:.2} (goal >= 0.7)", native / wasm);
        let words = Tokenize.process(1000, batch.clone());
        combine(&words, "words");
        // The same words as long keys (18 to 41 bytes), as ids and URLs are: they take the long-key table.
        let mut long = Batch::with_capacity(words.len(), words.values.len() + words.len() * LONG_PREFIX.len());
        for i in 0..words.len() {
            let key = [LONG_PREFIX.as_bytes(), words.value_bytes(i)].concat();
            long.push_raw(None, Kind::Text, &key, 1000);
        }
        combine(&long, "the words behind a 17-byte prefix");
    }
}

/// What makes the words long keys in the last combine run.
const LONG_PREFIX: &str = "customer-account-";

/// Times the local combine of `words` (a fused `map_to_pair` and `sum`) and prints ns per word and per
/// byte; its keys must be the words' distinct values, and its counts must add up to the words.
fn combine(words: &Batch, what: &str) {
    let distinct: std::collections::HashSet<&[u8]> = (0..words.len()).map(|i| words.value_bytes(i)).collect();
    let mut p = Partials::default();
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        p.clear();
        let start = Instant::now();
        p.add_values(std::slice::from_ref(words), Agg::I64(1), ReducerKind::Sum);
        best = best.min(start.elapsed().as_secs_f64());
        assert_eq!(p.len(), distinct.len(), "the combine's keys differ from the distinct words");
    }
    let mut counted = 0;
    p.for_each(|_, v| counted += if let Agg::I64(n) = v { n as usize } else { 0 });
    assert_eq!(counted, words.len(), "the combine's counts differ from the words");
    println!(
        "combine {:>6.1} ns/word, {:.2} ns/byte: {what} ({} distinct, {:.1} bytes each on average, tables kept warm as in a job)",
        best * 1e9 / words.len() as f64,
        best * 1e9 / words.values.len() as f64,
        distinct.len(),
        words.values.len() as f64 / words.len() as f64
    );
}
