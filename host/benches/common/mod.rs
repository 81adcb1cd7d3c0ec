//! What the benchmarks share: the repository root, the anchor corpus, and the checks of what they
//! timed (`check.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use weir::graph::spec::ReducerKind;
use weir::operator::keytable::{KeyTable, hash, pack_at};
use weir::operator::reduce::Agg;

#[allow(dead_code)] // the word-count benchmarks check their counts; the others their own output
pub mod check;

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
    Corpus::Anchor.dir()
}

/// The word-count corpora: the anchor, and one shaped like natural text (issue 28). Both have
/// 2,000,000 lines in 20 files, so lines/s compare; words/s is what compares across them.
#[allow(dead_code)] // the scenario benchmarks read neither
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corpus {
    /// `../shared/bench/anchors/gen.py 20 100000`: 10 words a line, `w0`..`w99999`, ASCII.
    Anchor,
    /// `scripts/gen-natural.py 20 100000`: 3 to 25 words a line of 1 to 24 characters, Zipf over
    /// 200,000 words, about 3 % of them accented or CJK.
    Natural,
}

#[allow(dead_code)]
impl Corpus {
    /// The corpora `WEIR_BENCH_CORPUS` names (`anchor`, `natural`, or `both`, the default).
    pub fn chosen() -> Vec<Corpus> {
        match std::env::var("WEIR_BENCH_CORPUS").as_deref() {
            Ok("anchor") => vec![Corpus::Anchor],
            Ok("natural") => vec![Corpus::Natural],
            Ok("both") | Err(_) => vec![Corpus::Anchor, Corpus::Natural],
            Ok(other) => panic!("WEIR_BENCH_CORPUS={other}: expected anchor, natural or both"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Corpus::Anchor => "anchor",
            Corpus::Natural => "natural",
        }
    }

    /// The directory the Spark anchor scripts run in: they read `data` below it.
    pub fn home(self) -> PathBuf {
        match self {
            Corpus::Anchor => repo().join("target/bench"),
            Corpus::Natural => repo().join("target/bench/natural"),
        }
    }

    /// The corpus's files (`part-0000.txt`..`part-0019.txt`), generated on first use.
    pub fn dir(self) -> PathBuf {
        let home = self.home();
        let data = home.join("data");
        if !data.join("part-0019.txt").is_file() {
            std::fs::create_dir_all(&home).unwrap();
            let (script, out) = match self {
                Corpus::Anchor => (repo().join("../shared/bench/anchors/gen.py"), None),
                Corpus::Natural => (repo().join("scripts/gen-natural.py"), Some(&data)),
            };
            eprintln!("generating the {} corpus with {}", self.name(), script.display());
            let mut script_run = Command::new("python3");
            script_run.arg(&script).args(["20", "100000"]).args(out).current_dir(&home);
            assert!(script_run.status().unwrap().success(), "{} failed", script.display());
        }
        data
    }
}

/// The Wasm tokenizer component; `WEIR_BENCH_TOKENIZER` names another build of it (to compare two).
#[allow(dead_code)] // the scenario benchmarks use no tokenizer
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

/// Runs one of Weir's own Spark scripts (`host/benches/spark/`) with the Python in `WEIR_SPARK_PYTHON`
/// (scripts/bench.sh makes a venv with pyspark 4.3.0); returns the figure of the `= NNNk records/s` it
/// prints, per second, and everything it printed. `None` (with the reason printed) when Spark is not set
/// up or the script fails: the caller then prints no ratio.
#[allow(dead_code)] // used by the scenario benchmarks only
pub fn spark_script(script: &str, args: &[&str]) -> Option<(f64, String)> {
    let Ok(python) = std::env::var("WEIR_SPARK_PYTHON") else {
        println!("spark: not set up (WEIR_SPARK_PYTHON unset; scripts/bench.sh sets it up): no ratio printed");
        return None;
    };
    let script = repo().join("host/benches/spark").join(script);
    let out = Command::new(python).arg(&script).args(args).output().expect("running the Spark script");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        println!(
            "spark: {} failed ({}): no ratio printed\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let figure = text.split("= ").last()?.split("k records/s").next()?.trim().parse::<f64>().ok()?;
    Some((figure * 1e3, text))
}

/// A small deterministic generator (SplitMix64), so every run of a benchmark makes the same corpus.
#[allow(dead_code)] // used by the scenario benchmarks only
pub struct Mix(pub u64);

#[allow(dead_code)]
impl Mix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The records of every batch line a `jsonl` sink wrote (`{"time": t, "records": [...]}`).
#[allow(dead_code)] // used by the scenario benchmarks only
pub fn jsonl_records(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("the job's output");
    text.lines()
        .flat_map(|l| {
            let mut batch: serde_json::Value = serde_json::from_str(l).expect("a batch line");
            match batch["records"].take() {
                serde_json::Value::Array(records) => records,
                other => panic!("a batch line without records: {other}"),
            }
        })
        .collect()
}
