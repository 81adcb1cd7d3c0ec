//! What the benchmarks share: the repository root and the anchor corpus.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Lines in the anchor corpus.
#[allow(dead_code)] // not every benchmark reads the whole corpus
pub const LINES: f64 = 2_000_000.0;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The anchor corpus (`gen.py 20 100000`: 2,000,000 lines of 10 Zipf words, 94 MB) in target/bench/data,
/// generated on first use.
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

/// The Wasm tokenizer component.
pub fn tokenizer() -> PathBuf {
    repo().join("operators/target/wasm32-wasip2/release/tokenize.wasm")
}
