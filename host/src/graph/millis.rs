//! Durations in a job spec: humantime text (`"1s"`, `"500ms"`) held in milliseconds. Below the spec
//! and the tables that use it (`[restart]`), so neither imports the other for it.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A duration written as text (`"1s"`, `"500ms"`), held in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(pub u64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let dur = humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!("invalid duration `{text}` ({e}); write e.g. \"1s\" or \"500ms\""))
        })?;
        Ok(Millis(dur.as_millis() as u64))
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0)
    }
}
