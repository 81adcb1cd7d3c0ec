//! `session-total`: a `map_with_state` function that keeps a running total per key for as long as the key
//! sees data, emits `(key, total)` for each batch with data, and when the key times out emits one final
//! `{"key": .., "total": .., "ended": true}` record (Spark's `State.isTimingOut`).

use weir::{Record, State};

/// Updates a key's session total.
#[weir::map_with_state]
pub fn session_total(key: &str, values: Vec<i64>, state: &mut State<i64>) -> Option<Record<'static>> {
    if state.is_timing_out() {
        let total = *state.get()?;
        return Record::json(&serde_json::json!({"key": key, "total": total, "ended": true})).ok();
    }
    let total = state.get().copied().unwrap_or(0) + values.iter().sum::<i64>();
    state.update(total);
    Some(Record::i64(total).with_key(key.to_string()))
}

#[cfg(test)]
mod tests {
    use weir::State;

    #[test]
    fn adds_while_active_and_reports_at_timeout() {
        let mut s = State::new(Some(2), false);
        let r = super::session_total("a", vec![3], &mut s).unwrap();
        assert_eq!((r.as_i64(), s.get()), (Some(5), Some(&5)));
        let mut ending = State::new(Some(5), true);
        let last = super::session_total("a", vec![], &mut ending).unwrap();
        assert_eq!(last.as_text(), Some(r#"{"ended":true,"key":"a","total":5}"#));
    }
}
