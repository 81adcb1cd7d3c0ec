//! The record type authors work with: borrowed from the input batch where it can be, owned where it must be.

use std::borrow::Cow;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::packed::{Batch, RecordRef, ValueRef};

/// A record's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// UTF-8 text.
    Text(Cow<'a, str>),
    /// A signed 64-bit integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// Opaque bytes.
    Bytes(Cow<'a, [u8]>),
    /// A JSON document, kept as text.
    Json(Cow<'a, str>),
}

/// One record: an optional key, a value and an event time (milliseconds since the Unix epoch).
///
/// Records read from a batch borrow their bytes from it, so slicing a record's text (as a tokenizer does)
/// allocates nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Record<'a> {
    /// The key, if any.
    pub key: Option<Cow<'a, [u8]>>,
    /// The value.
    pub value: Value<'a>,
    /// Event time in milliseconds since the Unix epoch.
    pub time: i64,
}

fn str_bytes(s: Cow<'_, str>) -> Cow<'_, [u8]> {
    match s {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }
}

impl<'a> Record<'a> {
    fn of(value: Value<'a>) -> Record<'a> {
        Record { key: None, value, time: 0 }
    }

    /// A text record without a key.
    ///
    /// ```
    /// let r = weir_sdk::Record::text("hello");
    /// assert_eq!(r.as_text(), Some("hello"));
    /// ```
    pub fn text(s: impl Into<Cow<'a, str>>) -> Record<'a> {
        Record::of(Value::Text(s.into()))
    }

    /// An integer record without a key.
    ///
    /// ```
    /// assert_eq!(weir_sdk::Record::i64(4).as_i64(), Some(4));
    /// ```
    pub fn i64(v: i64) -> Record<'a> {
        Record::of(Value::I64(v))
    }

    /// A float record without a key.
    ///
    /// ```
    /// assert_eq!(weir_sdk::Record::f64(0.5).as_f64(), Some(0.5));
    /// ```
    pub fn f64(v: f64) -> Record<'a> {
        Record::of(Value::F64(v))
    }

    /// A bytes record without a key.
    ///
    /// ```
    /// assert_eq!(weir_sdk::Record::bytes(&b"\x00\x01"[..]).as_bytes(), &b"\x00\x01"[..]);
    /// ```
    pub fn bytes(b: impl Into<Cow<'a, [u8]>>) -> Record<'a> {
        Record::of(Value::Bytes(b.into()))
    }

    /// A JSON record holding `v` serialized with serde.
    ///
    /// ```
    /// let r = weir_sdk::Record::json(&serde_json::json!({"a": 1})).unwrap();
    /// assert_eq!(r.as_text(), Some(r#"{"a":1}"#));
    /// ```
    pub fn json<T: Serialize + ?Sized>(v: &T) -> Result<Record<'a>, serde_json::Error> {
        Ok(Record::of(Value::Json(Cow::Owned(serde_json::to_string(v)?))))
    }

    /// The same record with a text key.
    ///
    /// ```
    /// let r = weir_sdk::Record::i64(1).with_key("word");
    /// assert_eq!(r.key_text(), Some("word"));
    /// ```
    pub fn with_key(self, key: impl Into<Cow<'a, str>>) -> Record<'a> {
        self.with_key_bytes(str_bytes(key.into()))
    }

    /// The same record with a key of raw bytes.
    ///
    /// ```
    /// let r = weir_sdk::Record::i64(1).with_key_bytes(&b"k"[..]);
    /// assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
    /// ```
    pub fn with_key_bytes(mut self, key: impl Into<Cow<'a, [u8]>>) -> Record<'a> {
        self.key = Some(key.into());
        self
    }

    /// The same record with another event time.
    ///
    /// ```
    /// assert_eq!(weir_sdk::Record::i64(1).with_time(5).time, 5);
    /// ```
    pub fn with_time(mut self, time: i64) -> Record<'a> {
        self.time = time;
        self
    }

    /// The value as text, for text and JSON values.
    ///
    /// ```
    /// assert_eq!(weir_sdk::Record::i64(1).as_text(), None);
    /// ```
    pub fn as_text(&self) -> Option<&str> {
        match &self.value {
            Value::Text(s) | Value::Json(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an integer, for integer values.
    ///
    /// ```
    /// assert_eq!(weir_sdk::Record::text("1").as_i64(), None);
    /// ```
    pub fn as_i64(&self) -> Option<i64> {
        match self.value {
            Value::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a float, for float and integer values.
    ///
    /// ```
    /// assert_eq!(weir_sdk::Record::i64(2).as_f64(), Some(2.0));
    /// ```
    pub fn as_f64(&self) -> Option<f64> {
        match self.value {
            Value::F64(v) => Some(v),
            Value::I64(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The value's bytes: text as UTF-8, numbers little-endian.
    ///
    /// ```
    /// assert_eq!(weir_sdk::Record::text("ab").as_bytes(), &b"ab"[..]);
    /// ```
    pub fn as_bytes(&self) -> Cow<'_, [u8]> {
        match &self.value {
            Value::Text(s) | Value::Json(s) => Cow::Borrowed(s.as_bytes()),
            Value::Bytes(b) => Cow::Borrowed(b),
            Value::I64(v) => Cow::Owned(v.to_le_bytes().to_vec()),
            Value::F64(v) => Cow::Owned(v.to_le_bytes().to_vec()),
        }
    }

    /// The key as text, when there is a key and it is UTF-8.
    ///
    /// ```
    /// assert_eq!(weir_sdk::Record::i64(1).key_text(), None);
    /// ```
    pub fn key_text(&self) -> Option<&str> {
        self.key.as_deref().and_then(|k| std::str::from_utf8(k).ok())
    }

    /// Parses a text or JSON value as JSON into `T`.
    ///
    /// ```
    /// let r = weir_sdk::Record::text(r#"{"n": 3}"#);
    /// let v: serde_json::Value = r.parse_json().unwrap();
    /// assert_eq!(v["n"], 3);
    /// assert!(weir_sdk::Record::i64(1).parse_json::<u8>().is_err());
    /// ```
    pub fn parse_json<T: DeserializeOwned>(&self) -> Result<T, String> {
        let text = self.as_text().ok_or_else(|| "value is not text or JSON".to_string())?;
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))
    }

    /// A copy that owns all its bytes.
    ///
    /// ```
    /// let owned: weir_sdk::Record<'static> = weir_sdk::Record::text(String::from("x").as_str()).into_owned();
    /// assert_eq!(owned.as_text(), Some("x"));
    /// ```
    pub fn into_owned(self) -> Record<'static> {
        Record {
            key: self.key.map(|k| Cow::Owned(k.into_owned())),
            value: match self.value {
                Value::Text(s) => Value::Text(Cow::Owned(s.into_owned())),
                Value::Json(s) => Value::Json(Cow::Owned(s.into_owned())),
                Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
                Value::I64(v) => Value::I64(v),
                Value::F64(v) => Value::F64(v),
            },
            time: self.time,
        }
    }

    /// Borrows a record read from a packed batch.
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut b = Batch::new();
    /// b.push(Some(b"k"), ValueRef::Text("v"), 7);
    /// let r = weir_sdk::Record::from_ref(b.get(0));
    /// assert_eq!((r.key_text(), r.as_text(), r.time), (Some("k"), Some("v"), 7));
    /// ```
    #[inline(always)]
    pub fn from_ref(r: RecordRef<'a>) -> Record<'a> {
        let value = match r.value {
            ValueRef::Text(s) => Value::Text(Cow::Borrowed(s)),
            ValueRef::Json(s) => Value::Json(Cow::Borrowed(s)),
            ValueRef::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
            ValueRef::I64(v) => Value::I64(v),
            ValueRef::F64(v) => Value::F64(v),
        };
        Record { key: r.key.map(Cow::Borrowed), value, time: r.time }
    }

    /// Appends this record to a packed batch.
    ///
    /// ```
    /// let mut b = weir_sdk::packed::Batch::new();
    /// weir_sdk::Record::text("a").with_key("k").push_to(&mut b);
    /// assert_eq!(b.key_bytes(0), b"k");
    /// ```
    #[inline]
    pub fn push_to(&self, batch: &mut Batch) {
        self.push_at(batch, self.time);
    }

    /// Appends this record to a packed batch with event time `time` instead of its own.
    ///
    /// ```
    /// let mut b = weir_sdk::packed::Batch::new();
    /// weir_sdk::Record::text("a").push_at(&mut b, 42);
    /// assert_eq!(b.get(0).time, 42);
    /// ```
    #[inline]
    pub fn push_at(&self, batch: &mut Batch, time: i64) {
        let value = match &self.value {
            Value::Text(s) => ValueRef::Text(s),
            Value::Json(s) => ValueRef::Json(s),
            Value::Bytes(b) => ValueRef::Bytes(b),
            Value::I64(v) => ValueRef::I64(*v),
            Value::F64(v) => ValueRef::F64(*v),
        };
        batch.push(self.key.as_deref(), value, time);
    }
}
