//! Built-in expressions for `map` and `filter` (Spark's lambdas, without a plugin), evaluated by the
//! `evalexpr` crate. An expression reads the record as variables: `key` (text, or empty when the record
//! has none), `value` (a number, text, boolean, tuple for a JSON array, or empty for null), `value.F`
//! (field `F` of a JSON-object value; `value.a.b` goes deeper), `time` (event time, ms) and `batch_time` (ms).

use std::collections::HashMap;

use evalexpr::{
    Context, DefaultNumericTypes, EvalexprError, EvalexprResult, Node, build_operator_tree, error::EvalexprResultValue,
};
use serde_json::Value as Json;
use weir_sdk::packed::{RecordRef, ValueRef};

/// An evalexpr value with the default numbers (i64, f64).
pub type Value = evalexpr::Value<DefaultNumericTypes>;

/// A parsed expression and the `value.FIELD` variables it reads.
#[derive(Clone, Debug)]
pub struct Expr {
    text: String,
    node: Node<DefaultNumericTypes>,
    fields: Vec<String>,
}

impl Expr {
    /// Parses `text`, refusing syntax errors and variables a record does not have.
    ///
    /// ```
    /// use weir::operator::expr::Expr;
    /// assert!(Expr::parse("value.price * 2 > 10 && key != \"x\"").is_ok());
    /// assert!(Expr::parse("price > 1").unwrap_err().contains("`price`"));
    /// assert!(Expr::parse("value >").is_err());
    /// assert!(Expr::parse("key = 1").unwrap_err().contains("cannot assign"));
    /// ```
    pub fn parse(text: &str) -> Result<Expr, String> {
        let node = build_operator_tree::<DefaultNumericTypes>(text).map_err(|e| format!("cannot parse: {e}"))?;
        if text.trim().is_empty() {
            return Err("cannot parse: the expression is empty".into());
        }
        complete(&node).map_err(|m| format!("cannot parse: {m}"))?;
        let mut fields = Vec::new();
        for id in node.iter_variable_identifiers() {
            match id {
                "key" | "value" | "time" | "batch_time" => {}
                _ if id.starts_with("value.") && id.len() > 6 => fields.push(id.to_string()),
                _ => {
                    let msg = "an expression reads `key`, `value`, `value.FIELD`, `time` and `batch_time`";
                    return Err(format!("unknown variable `{id}`; {msg}"));
                }
            }
        }
        fields.sort();
        fields.dedup();
        Ok(Expr { text: text.into(), node, fields })
    }

    /// Evaluates the expression on one record of batch `batch_time`. A record that lacks a field the
    /// expression reads is an error naming it (a missing field is never taken for null).
    ///
    /// ```
    /// use weir::operator::expr::{Expr, Value};
    /// use weir_sdk::packed::{RecordRef, ValueRef};
    /// let r = RecordRef { key: Some(b"k"), value: ValueRef::Json("{\"n\": 4}"), time: 7 };
    /// assert_eq!(Expr::parse("value.n * time").unwrap().eval(&r, 0), Ok(Value::Int(28)));
    /// assert_eq!(Expr::parse("value.m == 2").unwrap().eval(&r, 0).unwrap_err(), "the record has no field `m`");
    /// ```
    pub fn eval(&self, record: &RecordRef<'_>, batch_time: u64) -> Result<Value, String> {
        let json = match record.value {
            ValueRef::Json(text) => serde_json::from_str::<Json>(text).ok(),
            _ => None,
        };
        let mut missing = Vec::new();
        let mut fields = HashMap::new();
        for id in &self.fields {
            let path = &id["value.".len()..];
            let v = json.as_ref().and_then(|j| path.split('.').try_fold(j, |j, part| j.get(part))).map(from_json);
            if v.is_none() {
                missing.push(format!("`{path}`"));
            }
            fields.insert(id.as_str(), v.unwrap_or(Value::Empty));
        }
        if !missing.is_empty() {
            return Err(format!("the record has no field {}", missing.join(", ")));
        }
        let ctx = RecordContext {
            key: record.key.map_or(Value::Empty, |k| Value::String(String::from_utf8_lossy(k).into_owned())),
            value: json.as_ref().map_or_else(|| from_value(&record.value), from_json),
            time: Value::Int(record.time),
            batch_time: Value::Int(batch_time as i64),
            fields,
        };
        self.node.eval_with_context(&ctx).map_err(|e| e.to_string())
    }

    /// The expression as written, for messages.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Refuses operators missing an operand (the tree builder accepts `value >`) and assignments (an
/// expression reads a record, it does not change variables).
fn complete(node: &Node<DefaultNumericTypes>) -> Result<(), String> {
    use evalexpr::Operator as Op;
    let given = node.children().len();
    let wanted = match node.operator() {
        Op::Assign
        | Op::AddAssign
        | Op::SubAssign
        | Op::MulAssign
        | Op::DivAssign
        | Op::ModAssign
        | Op::ExpAssign
        | Op::AndAssign
        | Op::OrAssign
        | Op::VariableIdentifierWrite { .. } => return Err("an expression cannot assign variables".into()),
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod | Op::Exp => Some(2),
        Op::Eq | Op::Neq | Op::Gt | Op::Lt | Op::Geq | Op::Leq | Op::And | Op::Or => Some(2),
        Op::Not | Op::Neg | Op::FunctionIdentifier { .. } => Some(1),
        _ => None,
    };
    if wanted.is_some_and(|w| w != given) {
        return Err(format!("operator {:?} is missing an operand", node.operator()));
    }
    node.children().iter().try_for_each(complete)
}

/// The variables of one record; `fields` borrows the expression's `value.FIELD` names.
struct RecordContext<'a> {
    key: Value,
    value: Value,
    time: Value,
    batch_time: Value,
    fields: HashMap<&'a str, Value>,
}

impl Context for RecordContext<'_> {
    type NumericTypes = DefaultNumericTypes;

    fn get_value(&self, identifier: &str) -> Option<&Value> {
        match identifier {
            "key" => Some(&self.key),
            "value" => Some(&self.value),
            "time" => Some(&self.time),
            "batch_time" => Some(&self.batch_time),
            other => self.fields.get(other),
        }
    }

    fn call_function(&self, identifier: &str, _argument: &Value) -> EvalexprResultValue<DefaultNumericTypes> {
        Err(EvalexprError::FunctionIdentifierNotFound(identifier.to_string()))
    }

    fn are_builtin_functions_disabled(&self) -> bool {
        false
    }

    fn set_builtin_functions_disabled(&mut self, disabled: bool) -> EvalexprResult<(), DefaultNumericTypes> {
        if disabled { Err(EvalexprError::BuiltinFunctionsCannotBeDisabled) } else { Ok(()) }
    }
}

fn from_value(v: &ValueRef<'_>) -> Value {
    match v {
        ValueRef::Text(s) | ValueRef::Json(s) => Value::String(s.to_string()),
        ValueRef::I64(i) => Value::Int(*i),
        ValueRef::F64(f) => Value::Float(*f),
        ValueRef::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
    }
}

/// A JSON value as an expression sees it; an object is its JSON text (its fields are `value.F`).
fn from_json(j: &Json) -> Value {
    match j {
        Json::Null => Value::Empty,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => n.as_i64().map_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN)), Value::Int),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Tuple(a.iter().map(from_json).collect()),
        Json::Object(_) => Value::String(j.to_string()),
    }
}

/// An expression's result as JSON: a tuple becomes an array, empty becomes null.
///
/// ```
/// use weir::operator::expr::{to_json, Value};
/// let v = Value::Tuple(vec![Value::Int(1), Value::Empty, Value::Boolean(true)]);
/// assert_eq!(to_json(&v), serde_json::json!([1, null, true]));
/// ```
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::String(s) => Json::String(s.clone()),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Int(i) => Json::from(*i),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Tuple(t) => Json::Array(t.iter().map(to_json).collect()),
        Value::Empty => Json::Null,
    }
}
