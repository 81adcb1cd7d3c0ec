//! `drop_duplicates`: the first record of each key, and no other while the key is remembered — until the
//! job's watermark passes its event time plus `within` (Spark's `dropDuplicatesWithinWatermark`). Of the
//! records of one key in one batch, the one kept is the earliest, then the least by value, whatever the
//! workers. A record whose own time plus `within` the watermark has already passed is late: it could be a
//! duplicate of a key already forgotten, so it goes to the late output (a `late_records` stream) or the
//! dead letters, never through.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use weir_sdk::packed::Batch;

use super::dead_letter::DeadLetters;
use super::watermark::{Part, PartStream, Watermark};
use super::watermarked::{Outputs, Timing, watermarked};
use crate::graph::spec::WatermarkSpec;
use crate::render::cmp_values;
use crate::stream::BatchStream;

/// Everything `drop_duplicates` needs besides its input.
pub struct DedupConfig {
    /// How long a key is remembered past its event time, ms.
    pub within: i64,
    /// How the watermark follows event time.
    pub watermark: WatermarkSpec,
    /// The job's sources.
    pub sources: usize,
    /// True when a `late_records` stream reads the late records; else they go to the dead letters.
    pub late_stream: bool,
    /// Refused records.
    pub dead: Arc<DeadLetters>,
}

/// Keys remembered (with the event time until which), and the watermark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Seen {
    watermark: Watermark,
    keys: BTreeMap<Vec<u8>, i64>,
}

impl super::watermarked::Watermarked for Seen {
    fn watermark(&self) -> i64 {
        self.watermark.at
    }
}

/// Extension trait for `drop_duplicates`.
pub trait DropDuplicatesExt<'s> {
    /// The first record of each key of this stream (already on the worker owning its key) while the key
    /// is remembered, as `cfg` says; the watermark folded from `parts`. Returns the records kept and the
    /// late ones.
    ///
    /// ```
    /// // Exercised end to end by the `drop-duplicates` golden case.
    /// let w = weir::operator::watermark::Watermark::new(1);
    /// assert_eq!(w.at, i64::MIN);
    /// ```
    fn drop_duplicates(self, parts: PartStream<'s>, timing: Timing, cfg: DedupConfig) -> Outputs<'s>;
}

impl<'s> DropDuplicatesExt<'s> for BatchStream<'s> {
    fn drop_duplicates(self, parts: PartStream<'s>, timing: Timing, cfg: DedupConfig) -> Outputs<'s> {
        let name = timing.name.clone();
        let seen = Seen { watermark: Watermark::new(cfg.sources), keys: BTreeMap::new() };
        watermarked(self, parts, timing, seen, move |seen, t, records, parts| {
            step(&name, &cfg, seen, t, records, parts)
        })
    }
}

/// Batch `t`: the records kept and the late ones; then the watermark moves on and forgets keys.
fn step(name: &str, cfg: &DedupConfig, seen: &mut Seen, t: u64, records: &[Batch], parts: &[Part]) -> (Batch, Batch) {
    let time = |b: &Batch, i: usize| if b.event_times[i] == 0 { t as i64 } else { b.event_times[i] };
    // Each key's candidates, earliest (then least by value) first.
    let mut all: Vec<(&Batch, usize)> = records.iter().flat_map(|b| (0..b.len()).map(move |i| (b, i))).collect();
    all.sort_by(|&(a, i), &(b, j)| {
        a.key_bytes(i)
            .cmp(b.key_bytes(j))
            .then(time(a, i).cmp(&time(b, j)))
            .then_with(|| cmp_values((a.kind(i), a.value_bytes(i)), (b.kind(j), b.value_bytes(j))))
    });
    let (mut kept, mut late) = (Batch::new(), Batch::new());
    let at = seen.watermark.at;
    for (b, i) in all {
        let e = time(b, i);
        if at != i64::MIN && e.saturating_add(cfg.within) <= at {
            if cfg.late_stream {
                late.push_from(b, i);
            } else {
                let reason = format!(
                    "late: event time {e} plus {} ms is behind the watermark {at}, so its key may have been \
                     forgotten; a `late_records` stream reading `{name}` would take it",
                    cfg.within
                );
                cfg.dead.record(name, t, &b.get(i), &reason);
            }
            continue;
        }
        let until = e.saturating_add(cfg.within);
        match seen.keys.get_mut(b.key_bytes(i)) {
            Some(_) => {}
            None => {
                seen.keys.insert(b.key_bytes(i).to_vec(), until);
                kept.push_from(b, i);
            }
        }
    }
    let at = seen.watermark.advance(t, parts, cfg.watermark);
    seen.keys.retain(|_, until| *until > at);
    (kept, late)
}
