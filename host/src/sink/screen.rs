//! `screen`: the web UI's big screen of a stream (the "Double 11" board). It keeps every key's latest
//! numeric value and, after each batch, reports the top N as a job event, which the UI shows live.

use std::collections::HashMap;

use weir_sdk::packed::{Batch, RecordRef, ValueRef};

use super::{Sink, SinkError};
use crate::event::{Events, JobEvent};

/// The most keys a screen shows.
pub const MAX_TOP: usize = 100;

/// Keys remembered at most: beyond this the smallest values are forgotten, so a stream of ever new
/// keys cannot grow the job without bound (a forgotten key comes back with its next record).
pub const MAX_KEYS: usize = 100_000;

/// Ranks a stream's keys.
pub struct Screen {
    sink: String,
    stream: String,
    top: usize,
    latest: HashMap<String, f64>,
    events: Events,
}

impl Screen {
    /// A screen `sink` of `stream` showing `top` keys, reporting to `events`.
    pub fn new(sink: &str, stream: &str, top: usize, events: Events) -> Screen {
        Screen { sink: sink.into(), stream: stream.into(), top, latest: HashMap::new(), events }
    }

    /// The top `n` of `latest`: largest value first, ties by key.
    fn ranked(latest: &HashMap<String, f64>, n: usize) -> Vec<(String, f64)> {
        let mut all: Vec<(&String, &f64)> = latest.iter().collect();
        let order = |a: &(&String, &f64), b: &(&String, &f64)| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0));
        if all.len() > n {
            all.select_nth_unstable_by(n, order);
            all.truncate(n);
        }
        all.sort_unstable_by(order);
        all.into_iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

fn number(value: &ValueRef<'_>) -> Option<f64> {
    match value {
        ValueRef::I64(n) => Some(*n as f64),
        ValueRef::F64(x) if x.is_finite() => Some(*x),
        _ => None,
    }
}

impl Sink for Screen {
    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        for &i in order {
            let r = records.get(i);
            if let (Some(key), Some(v)) = (r.key, number(&r.value)) {
                self.latest.insert(String::from_utf8_lossy(key).into_owned(), v);
            }
        }
        if self.latest.len() > MAX_KEYS {
            self.latest = Screen::ranked(&self.latest, MAX_KEYS).into_iter().collect();
        }
        let rows = Screen::ranked(&self.latest, self.top);
        self.events.emit(JobEvent::ScreenUpdated { sink: self.sink.clone(), stream: self.stream.clone(), time, rows });
        Ok(())
    }

    fn refuses(&self, record: &RecordRef<'_>) -> Option<String> {
        if record.key.is_none() {
            return Some("a screen ranks keys: this record has none".into());
        }
        number(&record.value).is_none().then(|| "a screen ranks numbers: this value is not a finite number".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_ranks_every_keys_latest_value_largest_first_ties_by_key() {
        let events = Events::default();
        let mut seen = events.subscribe();
        let mut screen = Screen::new("board", "totals", 2, events);
        let mut batch = Batch::new();
        for (k, v) in [("a", 5), ("b", 9), ("c", 9)] {
            batch.push(Some(k.as_bytes()), ValueRef::I64(v), 0);
        }
        screen.write_batch(1000, &batch, &[0, 1, 2]).unwrap();
        let mut later = Batch::new();
        later.push(Some(b"a"), ValueRef::I64(20), 0);
        screen.write_batch(2000, &later, &[0]).unwrap();
        let boards: Vec<_> = std::iter::from_fn(|| seen.try_recv().ok()).collect();
        let rows = |e: &JobEvent| match e {
            JobEvent::ScreenUpdated { rows, .. } => rows.clone(),
            _ => panic!("{e:?}"),
        };
        assert_eq!(rows(&boards[0]), vec![("b".into(), 9.0), ("c".into(), 9.0)]);
        assert_eq!(rows(&boards[1]), vec![("a".into(), 20.0), ("b".into(), 9.0)]);
    }

    #[test]
    fn records_without_a_key_or_a_number_are_refused() {
        let screen = Screen::new("board", "totals", 3, Events::default());
        let r = RecordRef { key: None, value: ValueRef::I64(1), time: 0 };
        assert!(screen.refuses(&r).unwrap().contains("no"));
        let r = RecordRef { key: Some(b"k"), value: ValueRef::Text("x"), time: 0 };
        assert!(screen.refuses(&r).unwrap().contains("number"));
    }
}
