//! The built-in `filter` and `map`: Spark's lambdas written as expressions (`expr.rs`) in the spec, for
//! the simple cases that need no plugin. A record the expression cannot evaluate goes to the dead
//! letters with the reason; the rest of the batch goes on.

use std::sync::Arc;

use weir_sdk::packed::{Batch, ValueRef};

use super::BatchOperator;
use super::dead_letter::DeadLetters;
use super::expr::{Expr, Value, to_json};

/// Keeps the records for which `condition` is true.
pub struct ExprFilter {
    /// Stream name, for dead letters.
    pub name: String,
    /// A boolean expression.
    pub condition: Expr,
    /// Refused records.
    pub dead: Arc<DeadLetters>,
}

impl BatchOperator for ExprFilter {
    /// ```
    /// use std::sync::Arc;
    /// use weir::operator::{BatchOperator, builtin::ExprFilter, dead_letter::DeadLetters, expr::Expr};
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let dead = Arc::new(DeadLetters::open("job", None).unwrap());
    /// let mut op = ExprFilter { name: "f".into(), condition: Expr::parse("value > 1").unwrap(), dead: dead.clone() };
    /// let mut b = Batch::new();
    /// for v in [ValueRef::I64(1), ValueRef::I64(2), ValueRef::Text("x")] { b.push(None, v, 0); }
    /// let out = op.process(1000, b);
    /// assert_eq!((out.len(), out.get(0).value, dead.count()), (1, ValueRef::I64(2), 1));
    /// ```
    fn process(&mut self, time: u64, input: Batch) -> Batch {
        let mut out = Batch::with_capacity(input.len(), input.len() * 8);
        for i in 0..input.len() {
            let record = input.get(i);
            let reason = match self.condition.eval(&record, time) {
                Ok(Value::Boolean(true)) => {
                    out.push_from(&input, i);
                    continue;
                }
                Ok(Value::Boolean(false)) => continue,
                Ok(other) => format!("gave {}, not true or false", to_json(&other)),
                Err(e) => e,
            };
            self.dead.record(&self.name, time, &record, &format!("`where = \"{}\"`: {reason}", self.condition.text()));
        }
        out
    }
}

/// Gives every record a new key and/or value.
pub struct ExprMap {
    /// Stream name, for dead letters.
    pub name: String,
    /// The new key (text of the result; empty removes the key), or keep the key.
    pub key: Option<Expr>,
    /// The new value, or keep the value.
    pub value: Option<Expr>,
    /// Refused records.
    pub dead: Arc<DeadLetters>,
}

impl ExprMap {
    fn eval(
        &self,
        field: &str,
        expr: &Option<Expr>,
        r: &weir_sdk::packed::RecordRef<'_>,
        t: u64,
    ) -> Result<Option<Value>, String> {
        let Some(e) = expr else { return Ok(None) };
        e.eval(r, t).map(Some).map_err(|err| format!("`{field} = \"{}\"`: {err}", e.text()))
    }
}

impl BatchOperator for ExprMap {
    /// ```
    /// use std::sync::Arc;
    /// use weir::operator::{BatchOperator, builtin::ExprMap, dead_letter::DeadLetters, expr::Expr};
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let dead = Arc::new(DeadLetters::open("job", None).unwrap());
    /// let key = Some(Expr::parse("str::to_uppercase(value.user)").unwrap());
    /// let value = Some(Expr::parse("value.n * 2").unwrap());
    /// let mut op = ExprMap { name: "m".into(), key, value, dead };
    /// let mut b = Batch::new();
    /// b.push(None, ValueRef::Json("{\"user\": \"ann\", \"n\": 2}"), 0);
    /// let out = op.process(1000, b);
    /// assert_eq!((out.get(0).key, out.get(0).value), (Some(&b"ANN"[..]), ValueRef::I64(4)));
    /// ```
    fn process(&mut self, time: u64, input: Batch) -> Batch {
        let mut out = Batch::with_capacity(input.len(), input.len() * 16);
        let mut text;
        for i in 0..input.len() {
            let record = input.get(i);
            let result = self
                .eval("key", &self.key, &record, time)
                .and_then(|k| Ok((k, self.eval("value", &self.value, &record, time)?)));
            let (key, value) = match result {
                Ok(kv) => kv,
                Err(reason) => {
                    self.dead.record(&self.name, time, &record, &reason);
                    continue;
                }
            };
            let key_text = key.map(|k| match k {
                Value::String(s) => Some(s),
                Value::Empty => None,
                other => Some(to_json(&other).to_string()),
            });
            let key = match &key_text {
                Some(k) => k.as_deref().map(str::as_bytes),
                None => record.key,
            };
            let value = match value {
                None => record.value,
                Some(Value::Int(n)) => ValueRef::I64(n),
                Some(Value::Float(f)) => ValueRef::F64(f),
                Some(Value::String(s)) => {
                    text = s;
                    ValueRef::Text(&text)
                }
                Some(other) => {
                    text = to_json(&other).to_string();
                    ValueRef::Json(&text)
                }
            };
            out.push(key, value, record.time);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(values: &[ValueRef<'_>]) -> Batch {
        let mut b = Batch::new();
        values.iter().for_each(|v| b.push(Some(b"k"), *v, 5));
        b
    }

    #[test]
    fn a_condition_that_is_not_boolean_refuses_the_record_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.jsonl");
        let dead = Arc::new(DeadLetters::open("job", Some(&path)).unwrap());
        let condition = Expr::parse("if(value > 1, true, value)").unwrap();
        let mut op = ExprFilter { name: "f".into(), condition, dead: dead.clone() };
        let out = op.process(1000, batch(&[ValueRef::I64(0), ValueRef::I64(2)]));
        assert_eq!((out.len(), out.get(0).value), (1, ValueRef::I64(2)));
        dead.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("gave 0, not true or false"), "{text}");
    }

    #[test]
    fn a_map_keeps_what_it_does_not_set_and_an_empty_key_unkeys() {
        let dead = Arc::new(DeadLetters::open("job", None).unwrap());
        let keep_key = ExprMap {
            name: "m".into(),
            key: None,
            value: Some(Expr::parse("value + 0.5").unwrap()),
            dead: dead.clone(),
        };
        let unkey = ExprMap { name: "m".into(), key: Some(Expr::parse("()").unwrap()), value: None, dead };
        let out = [keep_key, unkey].map(|mut op| op.process(1000, batch(&[ValueRef::I64(1)])));
        assert_eq!(out[0].get(0), weir_sdk::packed::RecordRef { key: Some(b"k"), value: ValueRef::F64(1.5), time: 5 });
        assert_eq!(out[1].get(0), weir_sdk::packed::RecordRef { key: None, value: ValueRef::I64(1), time: 5 });
    }
}
