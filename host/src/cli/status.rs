//! The live one-line status of `weir run` on a terminal — batches, records per second, the last batch's
//! processing time and scheduling delay, dead letters — folded from the job's events and redrawn in
//! place on standard error. Redirected output never gets it: the line is drawn only on a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use weir::event::Events;
use weir::job::JobStatus;

/// Draws the job's status line from `events` on `io` while the job runs, when standard error is a
/// terminal; the returned bar is cleared when the job ends (`finish_and_clear`).
pub fn follow(io: &tokio::runtime::Handle, events: &Events) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner().with_style(ProgressStyle::with_template("{spinner} {msg}").ok()?);
    bar.enable_steady_tick(Duration::from_millis(250));
    let (shown, mut status) = (bar.clone(), JobStatus::default());
    shown.set_message(status.line(weir::batcher::now_ms()));
    events.follow(io, move |event| {
        status.apply(event);
        shown.set_message(status.line(weir::batcher::now_ms()));
    });
    Some(bar)
}
