//! What the benchmarks share: the repository root and the anchor corpus.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use weir::graph::spec::ReducerKind;
use weir::operator::keytable::{KeyTable, hash, pack_at};
use weir::operator::reduce::Agg;

/// The allocator the `weir` binary runs on (`host/src/main.rs`), so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lines in the anchor corpus.
#[allow(dead_code)] // not every benchmark reads the whole corpus
pub const LINES: f64 = 2_000_000.0;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The anchor corpus (`gen.py 20 100000`: 2,000,000 lines of 10 Zipf words, 94 MB) in target/bench/data,
/// generated on first use.
#[allow(dead_code)] // the platform benchmark generates its lines
pub fn corpus() -> PathBuf {
    let dir = repo().join("target/bench");
    let data = dir.join("data");
    if !data.join("part-0019.txt").is_file() {
        std::fs::create_dir_all(&dir).unwrap();
        let gen_py = repo().join("../shared/bench/anchors/gen.py");
        eprintln!("generating the corpus with {}", gen_py.display());
        let ok = Command::new("python3").arg(&gen_py).args(["20", "100000"]).current_dir(&dir).status().unwrap();
        assert!(ok.success(), "gen.py failed");
    }
    data
}

/// The Wasm tokenizer component; `WEIR_BENCH_TOKENIZER` names another build of it (to compare two).
pub fn tokenizer() -> PathBuf {
    match std::env::var_os("WEIR_BENCH_TOKENIZER") {
        Some(path) => PathBuf::from(path),
        None => repo().join("operators/target/wasm32-wasip2/release/tokenize.wasm"),
    }
}

/// Threads [`floor`] counts with: the benchmarks' two workers.
const FLOOR_THREADS: usize = 2;

/// What the benchmarks call [`floor`] when they print it.
#[allow(dead_code)] // used by the word-count benchmarks only
pub const FLOOR: &str = "hand-written native word count, no engine, 2 threads";

/// The machine's speed of light for this job: the same word count written by hand, with no engine, no
/// Wasm and no output. Each of [`FLOOR_THREADS`] threads reads every other file, splits it on spaces and newlines and
/// counts the words in the engine's own packed-key table; best of three, in lines per second. Weir's
/// figures are only comparable across machines as a share of this one.
#[allow(dead_code)] // used by the word-count benchmarks only
pub fn floor(data: &Path) -> f64 {
    let mut files: Vec<_> = std::fs::read_dir(data)
        .expect("corpus")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let count = |buf: &[u8], table: &mut KeyTable, long: &mut std::collections::HashMap<Vec<u8>, i64>| {
        let mut lines = 0;
        let is_space = |b: u8| b == b' ' || b == b'\n';
        let mut i = 0;
        while i < buf.len() {
            if is_space(buf[i]) {
                lines += usize::from(buf[i] == b'\n');
                i += 1;
                continue;
            }
            let start = i;
            while i < buf.len() && !is_space(buf[i]) {
                i += 1;
            }
            match pack_at(buf, start, i - start) {
                Some(k) => table.add(k, hash(k), Agg::I64(1), ReducerKind::Sum),
                None => *long.entry(buf[start..i].to_vec()).or_default() += 1,
            }
        }
        lines
    };
    let mut best = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let lines: usize = std::thread::scope(|s| {
            let workers: Vec<_> = (0..FLOOR_THREADS)
                .map(|t| {
                    let files = &files;
                    s.spawn(move || {
                        let (mut table, mut long) = (KeyTable::default(), Default::default());
                        let mut lines = 0;
                        for f in files.iter().skip(t).step_by(FLOOR_THREADS) {
                            lines += count(&std::fs::read(f).expect("corpus file"), &mut table, &mut long);
                        }
                        lines
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("floor thread")).sum()
        });
        assert_eq!(lines as f64, LINES, "the floor counted every line");
        best = best.max(LINES / start.elapsed().as_secs_f64());
    }
    best
}
