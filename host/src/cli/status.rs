//! The live one-line status of `weir run` on a terminal — batches, records per second, the last batch's
//! processing time and scheduling delay, dead letters — folded from the job's events and redrawn in
//! place on standard error. Redirected output never gets it: the line is drawn only on a terminal.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::broadcast::error::RecvError;
use weir::event::{Events, JobEvent};

/// What the line shows.
#[derive(Debug)]
struct Line {
    batches: u64,
    records: u64,
    dead_letters: u64,
    last_ms: Option<u64>,
    delay_ms: Option<u64>,
    started: Instant,
}

impl Line {
    fn apply(&mut self, event: &JobEvent) {
        match event {
            JobEvent::BatchCut { records, .. } => self.records += records.values().sum::<u64>(),
            JobEvent::BatchCompleted { scheduling_delay_ms, processing_ms, .. } => {
                self.batches += 1;
                (self.last_ms, self.delay_ms) = (Some(*processing_ms), *scheduling_delay_ms);
            }
            JobEvent::DeadLetter { .. } => self.dead_letters += 1,
            _ => {}
        }
    }

    fn text(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let last = match (self.last_ms, self.delay_ms) {
            (Some(p), Some(d)) => format!("last batch {p} ms after {d} ms waiting"),
            (Some(p), None) => format!("last batch {p} ms"),
            _ => "no batch yet".to_string(),
        };
        format!(
            "{} batches · {:.0} records/s · {last} · {} dead letters",
            self.batches,
            self.records as f64 / secs,
            self.dead_letters
        )
    }
}

/// Draws the job's status line from `events` on `io` while the job runs, when standard error is a
/// terminal; the returned bar is cleared when the job ends (`finish_and_clear`).
pub fn follow(io: &tokio::runtime::Handle, events: &Events) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner().with_style(ProgressStyle::with_template("{spinner} {msg}").ok()?);
    bar.enable_steady_tick(Duration::from_millis(250));
    let (shown, mut seen) = (bar.clone(), events.subscribe());
    let mut line =
        Line { batches: 0, records: 0, dead_letters: 0, last_ms: None, delay_ms: None, started: Instant::now() };
    shown.set_message(line.text());
    io.spawn(async move {
        loop {
            match seen.recv().await {
                Ok(event) => {
                    line.apply(&event);
                    shown.set_message(line.text());
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            }
        }
    });
    Some(bar)
}
