//! Holding a source to a rate: its `max_rate`, or its share of the job's pace ([`crate::pace`]) while a
//! sink lags. Each chunk waits until the chunks before it have used up their share of time, so the
//! source stops reading (a socket is not read, a broker is not fetched from) rather than buffer; chunks
//! are cut small enough ([`chunk_lines`]) that batches fill evenly at low rates.

use std::num::NonZeroU64;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Lets records through at a given rate.
#[derive(Debug, Default)]
pub struct Throttle {
    /// When the records let through so far will have used up their time.
    next: Mutex<Option<Instant>>,
}

impl Throttle {
    /// Waits until `records` more may go at `rate` records a second: at once when the source has been
    /// slower than that (time not used is not saved up, so there is no burst after a pause), else when
    /// the records before them have had their time.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// use weir::receiver::throttle::Throttle;
    /// let throttle = Throttle::default();
    /// let start = std::time::Instant::now();
    /// for _ in 0..5 {
    ///     throttle.admit(50, 1000.try_into().unwrap()).await;
    /// }
    /// // 250 records at 1,000 a second: the fifth chunk goes out after the first four's 200 ms.
    /// assert!(start.elapsed() >= std::time::Duration::from_millis(200));
    /// # });
    /// ```
    pub async fn admit(&self, records: usize, rate: NonZeroU64) {
        let cost = Duration::from_secs_f64(records as f64 / rate.get() as f64);
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let at = next.map_or_else(Instant::now, |n| n.max(Instant::now()));
            *next = Some(at + cost);
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// Forgets the records let through: the next chunk goes at once (the limit was lifted).
    pub fn reset(&self) {
        *self.next.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Lines per chunk at `rate`: `limit` or a twentieth of a second's worth, if less.
///
/// ```
/// use weir::receiver::throttle::chunk_lines;
/// assert_eq!(chunk_lines(1000.try_into().unwrap(), 8192), 50);
/// assert_eq!(chunk_lines(10.try_into().unwrap(), 8192), 1);
/// assert_eq!(chunk_lines(10_000_000.try_into().unwrap(), 8192), 8192);
/// ```
pub fn chunk_lines(rate: NonZeroU64, limit: usize) -> usize {
    let share = usize::try_from(rate.get() / 20).unwrap_or(usize::MAX);
    limit.min(share.max(1))
}
