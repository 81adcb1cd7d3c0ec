//! Typed values for reducers and state updaters: authors write `fn add(a: i64, b: i64) -> i64` and the
//! SDK converts each record's value to the parameter type, refusing (to the dead letters) a value of the
//! wrong kind instead of failing the batch.

use std::borrow::Cow;
use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::packed::{Batch, ValueRef};
use crate::record::Value;

/// A type a record's value converts to and from.
pub trait Datum: Sized {
    /// Reads a value; the error names the kind that was found.
    fn from_value(v: Value<'_>) -> Result<Self, String>;
    /// Appends this value as a record with `key`.
    fn push(&self, key: Option<&[u8]>, time: i64, out: &mut Batch);
}

fn kind_name(v: &Value<'_>) -> &'static str {
    match v {
        Value::Text(_) => "text",
        Value::I64(_) => "s64",
        Value::F64(_) => "f64",
        Value::Bytes(_) => "bytes",
        Value::Json(_) => "json",
    }
}

fn wrong(want: &str, v: &Value<'_>) -> String {
    format!("expected a {want} value, found {}", kind_name(v))
}

impl Datum for i64 {
    /// ```
    /// use weir_sdk::{Datum, Value};
    /// assert_eq!(i64::from_value(Value::I64(3)), Ok(3));
    /// assert_eq!(i64::from_value(Value::F64(3.0)).unwrap_err(), "expected a s64 value, found f64");
    /// ```
    fn from_value(v: Value<'_>) -> Result<Self, String> {
        match v {
            Value::I64(i) => Ok(i),
            other => Err(wrong("s64", &other)),
        }
    }
    fn push(&self, key: Option<&[u8]>, time: i64, out: &mut Batch) {
        out.push(key, ValueRef::I64(*self), time)
    }
}

impl Datum for f64 {
    /// Integers widen to floats.
    ///
    /// ```
    /// use weir_sdk::{Datum, Value};
    /// assert_eq!(f64::from_value(Value::I64(3)), Ok(3.0));
    /// ```
    fn from_value(v: Value<'_>) -> Result<Self, String> {
        match v {
            Value::F64(f) => Ok(f),
            Value::I64(i) => Ok(i as f64),
            other => Err(wrong("f64", &other)),
        }
    }
    fn push(&self, key: Option<&[u8]>, time: i64, out: &mut Batch) {
        out.push(key, ValueRef::F64(*self), time)
    }
}

impl Datum for String {
    /// Text, or a JSON document as its text.
    ///
    /// ```
    /// use weir_sdk::{Datum, Value};
    /// assert_eq!(String::from_value(Value::Text("a".into())), Ok("a".to_string()));
    /// ```
    fn from_value(v: Value<'_>) -> Result<Self, String> {
        match v {
            Value::Text(s) | Value::Json(s) => Ok(s.into_owned()),
            other => Err(wrong("text", &other)),
        }
    }
    fn push(&self, key: Option<&[u8]>, time: i64, out: &mut Batch) {
        out.push(key, ValueRef::Text(self), time)
    }
}

impl Datum for Vec<u8> {
    /// The value's bytes, whatever its kind.
    ///
    /// ```
    /// use weir_sdk::{Datum, Value};
    /// assert_eq!(Vec::<u8>::from_value(Value::Text("a".into())), Ok(b"a".to_vec()));
    /// ```
    fn from_value(v: Value<'_>) -> Result<Self, String> {
        Ok(match v {
            Value::Text(s) | Value::Json(s) => s.into_owned().into_bytes(),
            Value::Bytes(b) => b.into_owned(),
            Value::I64(i) => i.to_le_bytes().to_vec(),
            Value::F64(f) => f.to_le_bytes().to_vec(),
        })
    }
    fn push(&self, key: Option<&[u8]>, time: i64, out: &mut Batch) {
        out.push(key, ValueRef::Bytes(self), time)
    }
}

impl Datum for Value<'static> {
    /// Any value, as it came.
    ///
    /// ```
    /// use weir_sdk::{Datum, Value};
    /// assert_eq!(Value::from_value(Value::I64(1)), Ok(Value::I64(1)));
    /// ```
    fn from_value(v: Value<'_>) -> Result<Self, String> {
        Ok(match v {
            Value::Text(s) => Value::Text(Cow::Owned(s.into_owned())),
            Value::Json(s) => Value::Json(Cow::Owned(s.into_owned())),
            Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Value::I64(i) => Value::I64(i),
            Value::F64(f) => Value::F64(f),
        })
    }
    fn push(&self, key: Option<&[u8]>, time: i64, out: &mut Batch) {
        let value = match self {
            Value::Text(s) => ValueRef::Text(s),
            Value::Json(s) => ValueRef::Json(s),
            Value::Bytes(b) => ValueRef::Bytes(b),
            Value::I64(i) => ValueRef::I64(*i),
            Value::F64(f) => ValueRef::F64(*f),
        };
        out.push(key, value, time)
    }
}

/// Any serde type, carried as a JSON value.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize + DeserializeOwned> Datum for Json<T> {
    /// Reads JSON (or text holding JSON); numbers read as JSON numbers.
    ///
    /// ```
    /// use weir_sdk::{Datum, Json, Value};
    /// let Json(v): Json<Vec<u8>> = Json::from_value(Value::Json("[1,2]".into())).unwrap();
    /// assert_eq!(v, vec![1, 2]);
    /// assert_eq!(Json::<u8>::from_value(Value::I64(7)), Ok(Json(7)));
    /// ```
    fn from_value(v: Value<'_>) -> Result<Self, String> {
        let parsed = match &v {
            Value::Text(s) | Value::Json(s) => serde_json::from_str(s),
            Value::I64(i) => serde_json::from_value(serde_json::json!(i)),
            Value::F64(f) => serde_json::from_value(serde_json::json!(f)),
            Value::Bytes(_) => return Err(wrong("json", &v)),
        };
        parsed.map(Json).map_err(|e| format!("invalid JSON value: {e}"))
    }
    fn push(&self, key: Option<&[u8]>, time: i64, out: &mut Batch) {
        // Serializing plain data cannot fail; a map with non-string keys writes `null` instead.
        let text = serde_json::to_string(&self.0).unwrap_or_else(|_| "null".into());
        out.push(key, ValueRef::Json(&text), time)
    }
}

/// What an author's function may return: the value itself, or a `Result` whose error refuses the input.
pub trait Fallible<T> {
    /// The value, or the error as text.
    fn into_result(self) -> Result<T, String>;
}

impl<T: Datum> Fallible<T> for T {
    /// ```
    /// use weir_sdk::Fallible;
    /// assert_eq!(Fallible::<i64>::into_result(4i64), Ok(4));
    /// ```
    fn into_result(self) -> Result<T, String> {
        Ok(self)
    }
}

impl<T: Datum, E: Display> Fallible<T> for Result<T, E> {
    /// ```
    /// use weir_sdk::Fallible;
    /// assert_eq!(Fallible::<i64>::into_result(Err::<i64, _>("overflow")), Err("overflow".to_string()));
    /// ```
    fn into_result(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// A key parameter type: `&str` (refusing keys that are not UTF-8) or `&[u8]`.
pub trait FromKey<'a>: Sized {
    /// Reads a key.
    fn from_key(key: &'a [u8]) -> Result<Self, String>;
}

impl<'a> FromKey<'a> for &'a str {
    /// ```
    /// use weir_sdk::FromKey;
    /// assert_eq!(<&str>::from_key(b"k"), Ok("k"));
    /// assert!(<&str>::from_key(b"\xff").is_err());
    /// ```
    fn from_key(key: &'a [u8]) -> Result<Self, String> {
        std::str::from_utf8(key).map_err(|_| "the key is not UTF-8 text".to_string())
    }
}

impl<'a> FromKey<'a> for &'a [u8] {
    /// ```
    /// use weir_sdk::FromKey;
    /// assert_eq!(<&[u8]>::from_key(b"\xff"), Ok(&b"\xff"[..]));
    /// ```
    fn from_key(key: &'a [u8]) -> Result<Self, String> {
        Ok(key)
    }
}
