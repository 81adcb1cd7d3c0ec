//! `event-gen`: a replayable source of made-up purchases, each record a user's amount (`i64`, keyed by
//! user). Event `i` is a pure function of (`seed`, `i`), so the offset is the next event's number: a job
//! resumed after a crash seeks there and gets the very same events again, and any logged batch end is
//! hit exactly.
//!
//! Parameters: `seed` (default 42), `limit` (events in all; default: no end), `users` (default 100).

use weir::{Read, Record};

/// Reads events `from..` at most `max`, none at or past `until`.
#[weir::source(params = ["seed", "limit", "users"], init = check)]
pub fn events(from: u64, max: usize, until: Option<u64>) -> Result<Read<u64>, String> {
    let (seed, limit, users) = settings()?;
    let end = from.saturating_add(max as u64).min(limit).min(until.unwrap_or(u64::MAX)).max(from);
    let records = (from..end).map(|i| event(seed, users, i)).collect();
    Ok(Read { records, next: end, finished: end >= limit })
}

fn settings() -> Result<(u64, u64, u64), String> {
    let seed = weir::param_as("seed")?.unwrap_or(42);
    Ok((seed, weir::param_as("limit")?.unwrap_or(u64::MAX), weir::param_as("users")?.unwrap_or(100)))
}

fn check() -> Result<(), String> {
    match settings()? {
        (_, _, 0) => Err("parameter `users` must be at least 1".into()),
        _ => Ok(()),
    }
}

/// splitmix64: one well-mixed 64-bit number per input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Event `i`: user `u<h % users>` spent 1 to 100.
fn event(seed: u64, users: u64, i: u64) -> Record<'static> {
    let h = mix(seed ^ mix(i));
    Record::i64(((h >> 32) % 100 + 1) as i64).with_key(format!("u{}", h % users))
}

#[cfg(test)]
mod tests {
    use weir::testing::SourceHarness;

    use super::Events;

    #[test]
    fn reads_replay_exactly_from_any_offset() {
        let h = SourceHarness::<Events>::new().param("limit", "1000").param("users", "7").open().unwrap();
        h.check_replay(64).unwrap();
        let (records, offsets) = h.read_all(300).unwrap();
        assert_eq!((records.len(), offsets), (1000, vec![300, 600, 900, 1000]));
        assert!(records.iter().all(|r| r.key.is_some() && matches!(r.value, weir::Value::I64(1..=100))));
    }

    #[test]
    fn a_read_until_an_offset_stops_there_and_the_limit_finishes() {
        let h = SourceHarness::<Events>::new().param("limit", "25").open().unwrap();
        let read = h.poll(&0, 100, Some(&10)).unwrap();
        assert_eq!((read.records.len(), read.next, read.finished), (10, 10, false));
        let read = h.poll(&10, 100, None).unwrap();
        assert_eq!((read.records.len(), read.next, read.finished), (15, 25, true));
    }

    #[test]
    fn no_users_is_refused_at_open() {
        let err = SourceHarness::<Events>::new().param("users", "0").open().err().unwrap();
        assert_eq!(err, "parameter `users` must be at least 1");
        let err = SourceHarness::<Events>::new().param("speed", "1").open().err().unwrap();
        assert!(err.contains("`speed`"), "{err}");
    }
}
