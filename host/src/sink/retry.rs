//! How a sink waits out a server that is down. A batch whose server cannot be reached (the connection
//! refused or dropped, the server shutting down) is tried again with a doubling wait, each wait logged,
//! for up to [`PATIENCE`]: a restarted server is picked up where it left off. A batch the server refused
//! (a constraint it breaks) is tried only a few times, since a refusal rarely goes away by itself. Either
//! way the batch is written whole or the job fails with the last error: no batch is ever skipped.

use std::time::{Duration, Instant};

use super::SinkError;

/// How long a sink keeps trying while its server cannot be reached, before the job fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Attempts at a batch the server refused, before the job fails.
pub const REFUSALS: u32 = 5;

const FIRST_WAIT: Duration = Duration::from_millis(100);
const LONGEST_WAIT: Duration = Duration::from_secs(5);

/// Runs `attempt` until it succeeds: while it fails with [`SinkError::Unreachable`], for up to
/// [`PATIENCE`]; any other failure at most `refusals` times in all. Waits double from 100 ms to 5 s.
///
/// ```
/// # use weir::sink::{SinkError, retry::patiently};
/// let mut tries = 0;
/// let down = || SinkError::Unreachable { sink: "s".into(), server: "the server".into(), message: "refused".into() };
/// let written = patiently(1, || { tries += 1; if tries < 3 { Err(down()) } else { Ok(tries) } });
/// assert_eq!(written.unwrap(), 3);
///
/// let refused = || SinkError::Db { sink: "s".into(), message: "violates check constraint".into() };
/// let mut tries = 0;
/// assert!(patiently(2, || -> Result<(), _> { tries += 1; Err(refused()) }).is_err());
/// assert_eq!(tries, 2);
/// ```
pub fn patiently<T>(refusals: u32, mut attempt: impl FnMut() -> Result<T, SinkError>) -> Result<T, SinkError> {
    let started = Instant::now();
    let mut wait = FIRST_WAIT;
    let mut refused = 0;
    loop {
        let e = match attempt() {
            Ok(done) => return Ok(done),
            Err(e) => e,
        };
        if matches!(e, SinkError::Denied { .. }) {
            return Err(e); // a denied host stays denied
        }
        let unreachable = matches!(e, SinkError::Unreachable { .. });
        refused += u32::from(!unreachable);
        if (unreachable && started.elapsed() + wait > PATIENCE) || refused >= refusals {
            return Err(e);
        }
        if unreachable {
            tracing::warn!("{e}; waiting for it, trying again in {wait:?}");
        } else {
            tracing::warn!("{e}; trying again in {wait:?}");
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(LONGEST_WAIT);
    }
}
