//! Generator source: lines of words `w0..wN` (each after an optional prefix, for longer keys),
//! Zipf-distributed or in sequence, at a rate, for demos and benchmarks.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Zipf};

use crate::checkpoint::OffsetMark;

use super::{CHUNK_LINES, Outbox, SourceEvent};
use weir_sdk::packed::{Batch, Kind};

/// Generator settings.
pub struct Config {
    /// Lines per second (realtime) or per batch (manual).
    pub rate: u64,
    /// Words per line.
    pub words_per_line: usize,
    /// Distinct words.
    pub vocabulary: usize,
    /// Zipf exponent.
    pub zipf: f64,
    /// Words in sequence (`w0, w1, ...`, wrapping at the vocabulary) instead of Zipf-distributed.
    pub sequential: bool,
    /// Total lines, if bounded.
    pub limit: Option<u64>,
    /// Random seed.
    pub seed: u64,
    /// Put before every word.
    pub prefix: String,
    /// Manual clock: one unit = `rate` lines.
    pub manual: bool,
}

struct Lines {
    // Empty in sequential mode, which formats each word instead (a 10 M-word table would cost ~300 MB).
    words: Vec<String>,
    next: usize,
    vocabulary: usize,
    zipf: Zipf<f64>,
    rng: StdRng,
    per_line: usize,
    line: Vec<u8>,
    prefix: String,
}

impl Lines {
    fn fill(&mut self, batch: &mut Batch, n: u64) {
        for _ in 0..n {
            self.line.clear();
            for w in 0..self.per_line {
                if w > 0 {
                    self.line.push(b' ');
                }
                if self.words.is_empty() {
                    use std::io::Write;
                    let _ = write!(self.line, "{}w{}", self.prefix, self.next);
                    self.next = (self.next + 1) % self.vocabulary;
                } else {
                    let k = self.zipf.sample(&mut self.rng) as usize - 1;
                    self.line.extend_from_slice(self.words[k.min(self.words.len() - 1)].as_bytes());
                }
            }
            batch.push_raw(None, Kind::Text, &self.line, 0);
        }
    }
}

/// Emits `n` lines in chunks, each with the count of lines made so far; false when the job is
/// stopping.
async fn emit(lines: &mut Lines, mut n: u64, made: &mut u64, out: &Outbox) -> bool {
    while n > 0 {
        let k = n.min(CHUNK_LINES as u64);
        let mut batch = Batch::with_capacity(k as usize, k as usize * lines.per_line * 5);
        lines.fill(&mut batch, k);
        *made += k;
        if !out.send(SourceEvent::Marked(batch, OffsetMark::Units(*made))).await {
            return false;
        }
        n -= k;
    }
    true
}

/// Runs until the limit is reached or the job stops. A resumed job first makes, and drops, the `skip`
/// lines it had already taken: the lines are a function of the seed, so the rest come out the same.
/// Then, at once, it makes the lines of the batches it had cut before the crash, marking each `cuts`
/// count exactly, and goes on at the rate.
pub async fn run(cfg: Config, skip: u64, cuts: Vec<u64>, out: Outbox) {
    let zipf = Zipf::new(cfg.vocabulary as f64, cfg.zipf).expect("zipf parameters checked by the plan");
    let mut lines = Lines {
        words: match cfg.sequential {
            true => Vec::new(),
            false => (0..cfg.vocabulary).map(|i| format!("{}w{i}", cfg.prefix)).collect(),
        },
        next: 0,
        vocabulary: cfg.vocabulary,
        zipf,
        rng: StdRng::seed_from_u64(cfg.seed),
        per_line: cfg.words_per_line,
        line: Vec::new(),
        prefix: cfg.prefix,
    };
    let mut rest = skip;
    while rest > 0 {
        let k = rest.min(CHUNK_LINES as u64);
        lines.fill(&mut Batch::new(), k);
        rest -= k;
    }
    let mut made = skip;
    let limit = cfg.limit.unwrap_or(u64::MAX);
    for cut in cuts.into_iter().map(|c| c.min(limit)) {
        if cut > made && !emit(&mut lines, cut - made, &mut made, &out).await {
            return;
        }
    }
    let mut left = limit.saturating_sub(made);
    // Realtime: ten ticks a second, carrying the fraction so the rate is exact over time.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut carry = 0u64;
    while left > 0 && !out.draining() {
        let n = if cfg.manual {
            cfg.rate.min(left)
        } else {
            tokio::select! {
                _ = tick.tick() => {}
                _ = out.drained() => break,
            }
            carry += cfg.rate;
            let n = (carry / 10).min(left);
            carry %= 10;
            n
        };
        if !emit(&mut lines, n, &mut made, &out).await {
            return;
        }
        left -= n;
        if cfg.manual && !out.send(SourceEvent::UnitEnd).await {
            return;
        }
    }
    out.send(SourceEvent::Finished).await;
}
