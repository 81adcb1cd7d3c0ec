//! The reduce, state and batch macros as authors use them, run natively through the same packed layout
//! a component gets.

extern crate weir_sdk as weir;

use weir::packed::ValueRef;
use weir::state::{HAS_STATE, TIMING_OUT};
use weir::{Groups, Output, Plugin, Record, Reducer, State, StateInput, StateOutput, StateUpdater, TransformKind};

#[weir::reduce(inverse = minus)]
fn plus(a: i64, b: i64) -> Result<i64, String> {
    a.checked_add(b).ok_or_else(|| "overflow".to_string())
}

fn minus(a: i64, b: i64) -> i64 {
    a - b
}

#[weir::reduce(name = "longest", params = ["min"])]
fn longest(a: String, b: String) -> String {
    if b.len() > a.len() { b } else { a }
}

#[weir::update_state]
fn running(values: Vec<i64>, state: Option<i64>) -> Option<i64> {
    let total = state.unwrap_or(0) + values.iter().sum::<i64>();
    (total != 0).then_some(total)
}

#[weir::update_state]
fn keyed(key: &str, values: Vec<String>, state: Option<String>) -> Result<Option<String>, String> {
    if key == "bad" {
        return Err("refused key".into());
    }
    Ok(Some(format!("{}{}", state.unwrap_or_default(), values.concat())))
}

#[weir::map_with_state]
fn session(key: &str, values: Vec<i64>, state: &mut State<i64>) -> Option<Record<'static>> {
    if state.is_timing_out() {
        let total = *state.get()?;
        return Some(Record::text(format!("{key} ended at {total}")));
    }
    let total = state.get().copied().unwrap_or(0) + values.iter().sum::<i64>();
    state.update(total);
    Some(Record::i64(total).with_key(key.to_string()))
}

#[weir::batch]
fn top_two(mut records: Vec<Record<'_>>) -> Vec<Record<'_>> {
    records.sort_by_key(|r| std::cmp::Reverse(r.as_i64()));
    records.truncate(2);
    records
}

fn ints(out: &weir::packed::Batch) -> Vec<(String, i64)> {
    out.iter()
        .map(|r| {
            let v = match r.value {
                ValueRef::I64(v) => v,
                _ => -1,
            };
            (String::from_utf8_lossy(r.key.unwrap_or_default()).into_owned(), v)
        })
        .collect()
}

#[test]
fn reduce_folds_each_group_and_refuses_bad_values() {
    let g = Groups::from_pairs(&[
        ("a", vec![Record::i64(1), Record::i64(2), Record::text("x")]),
        ("b", vec![Record::i64(i64::MAX), Record::i64(1)]),
        ("c", vec![Record::i64(5)]),
    ]);
    let mut out = Output::default();
    Plus::combine(&g, &mut out);
    assert_eq!(ints(&out.records), vec![("a".into(), 3), ("c".into(), 5)]);
    let reasons: Vec<(u32, &str)> = out.rejected.iter().map(|(i, r)| (*i, r.as_str())).collect();
    assert_eq!(reasons, vec![(2, "expected a s64 value, found text"), (3, "overflow"), (4, "overflow")]);
    assert_eq!(Plus::KIND, TransformKind::ReduceInvertible);
}

#[test]
fn inverse_takes_values_out_of_the_running_value() {
    let g = Groups::from_pairs(&[("a", vec![Record::i64(10), Record::i64(3), Record::i64(4)])]);
    let mut out = Output::default();
    Plus::inverse(&g, &mut out);
    assert_eq!(ints(&out.records), vec![("a".into(), 3)]);
}

#[test]
fn a_reducer_without_inverse_fails_an_inverse_call() {
    let mut out = Output::default();
    Longest::inverse(&Groups::default(), &mut out);
    assert_eq!(out.fatal.as_deref(), Some("reducer `longest` has no inverse"));
    assert_eq!((Longest::KIND, Longest::PARAMS), (TransformKind::Reduce, &["min"][..]));
}

fn input(keys: &[(&str, Vec<Record<'_>>, Option<Record<'_>>, u8)]) -> StateInput {
    let pairs: Vec<(&str, Vec<Record<'_>>)> = keys.iter().map(|(k, v, _, _)| (*k, v.clone())).collect();
    let mut i = StateInput { values: Groups::from_pairs(&pairs), ..Default::default() };
    for (k, _, s, f) in keys {
        s.clone().unwrap_or(Record::bytes(&b""[..])).with_key(*k).push_to(&mut i.states);
        i.flags.push(*f | if s.is_some() { HAS_STATE } else { 0 });
    }
    i
}

#[test]
fn update_state_keeps_visits_and_deletes_on_none() {
    let i = input(&[
        ("a", vec![Record::i64(2)], Some(Record::i64(3)), 0),
        ("b", vec![], Some(Record::i64(4)), 0),
        ("c", vec![Record::i64(-1)], Some(Record::i64(1)), 0),
        ("d", vec![Record::i64(7)], None, 0),
    ]);
    let mut out = StateOutput::default();
    Running::update(1000, &i, &mut out);
    assert_eq!(out.keep, vec![true, true, false, true]);
    assert_eq!(ints(&out.states)[..2], [("a".into(), 5), ("b".into(), 4)]);
    assert_eq!(ints(&out.states)[3], ("d".into(), 7));
    assert!(out.emitted.is_empty() && out.rejected.is_empty());
}

#[test]
fn update_state_with_a_key_refuses_a_keys_values_and_keeps_its_state() {
    let i = input(&[
        ("ok", vec![Record::text("x")], Some(Record::text("w")), 0),
        ("bad", vec![Record::text("y")], Some(Record::text("old")), 0),
    ]);
    let mut out = StateOutput::default();
    Keyed::update(1000, &i, &mut out);
    assert_eq!(out.keep, vec![true, true]);
    assert_eq!(out.states.get(0).value, ValueRef::Text("wx"));
    assert_eq!(out.states.get(1).value, ValueRef::Text("old"));
    assert_eq!(out.rejected, vec![(1, "refused key".to_string())]);
}

#[test]
fn map_with_state_emits_updates_and_a_final_record_when_timing_out() {
    let i = input(&[
        ("a", vec![Record::i64(2), Record::i64(3)], Some(Record::i64(1)), 0),
        ("idle", vec![], Some(Record::i64(9)), TIMING_OUT),
    ]);
    let mut out = StateOutput::default();
    Session::update(4000, &i, &mut out);
    assert_eq!(ints(&out.states)[0], ("a".into(), 6));
    assert_eq!(out.emitted.get(0).value, ValueRef::I64(6));
    assert_eq!(out.emitted.get(1).value, ValueRef::Text("idle ended at 9"));
    assert_eq!(out.emitted.get(1).time, 4000);
    assert_eq!(Session::KIND, TransformKind::MapWithState);
}

#[test]
fn a_state_of_the_wrong_type_refuses_the_keys_values() {
    let i = input(&[("a", vec![Record::i64(2)], Some(Record::text("x")), 0)]);
    let mut out = StateOutput::default();
    Running::update(1000, &i, &mut out);
    assert_eq!(out.keep, vec![true]);
    assert_eq!(out.rejected, vec![(0, "stored state: expected a s64 value, found text".to_string())]);
}

#[test]
fn batch_transform_sees_the_whole_batch() {
    let out = weir::testing::Harness::<TopTwo>::new().run(&[Record::i64(1), Record::i64(5), Record::i64(3)]).unwrap();
    let got: Vec<i64> = out.records.iter().filter_map(|r| r.as_i64()).collect();
    assert_eq!(got, vec![5, 3]);
    assert_eq!(TopTwo::KIND, TransformKind::Batch);
}
