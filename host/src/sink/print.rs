//! `print`: Spark's `DStream.print()` — a header with the batch time, then the first `num` records and
//! `...` when there are more.

use std::io::Write;

use weir_sdk::packed::Batch;

use super::{Sink, SinkError};
use crate::render;

/// Prints to stdout.
pub struct Print {
    /// Records shown per batch.
    pub num: usize,
}

impl Sink for Print {
    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        let mut text = format!(
            "-------------------------------------------\nTime: {time} ms\n-------------------------------------------\n"
        );
        for &i in order.iter().take(self.num) {
            text.push_str(&render::text(&records.get(i)));
            text.push('\n');
        }
        if order.len() > self.num {
            text.push_str("...\n");
        }
        text.push('\n');
        let mut out = std::io::stdout().lock();
        // A closed stdout (e.g. piped to `head`) must not take the job down.
        let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
        Ok(())
    }
}
