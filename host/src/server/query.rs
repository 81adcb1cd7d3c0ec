//! Ad-hoc queries on a job's keyed state (Spark's "ad-hoc queries on stream state"): one key, a key
//! prefix or the top N by value, answered from the job's newest committed checkpoint, so an answer is
//! the state as of one batch, whatever the job is doing meanwhile.

use std::cmp::Ordering;

use super::{Server, ServerError};
use crate::checkpoint::KeyedStateError;

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateQuery {
    /// One key.
    Key(String),
    /// Every key starting with this, in key order, at most `limit`.
    Prefix(String),
    /// The `n` keys of the largest numeric values.
    Top(usize),
}

/// One key's state.
#[derive(Debug, Clone, PartialEq)]
pub struct StateEntry {
    /// The key.
    pub key: String,
    /// The value, as JSON.
    pub value: serde_json::Value,
    /// The batch of the key's last data.
    pub last_seen: u64,
}

/// An answer.
#[derive(Debug, Clone, PartialEq)]
pub struct StateAnswer {
    /// The batch whose state it is.
    pub as_of: u64,
    /// The entries.
    pub entries: Vec<StateEntry>,
    /// True when `limit` cut the answer short.
    pub truncated: bool,
}

fn by_value_desc(a: &StateEntry, b: &StateEntry) -> Ordering {
    let n = |e: &StateEntry| e.value.as_f64();
    match (n(a), n(b)) {
        (Some(x), Some(y)) => y.partial_cmp(&x).unwrap_or(Ordering::Equal).then_with(|| a.key.cmp(&b.key)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.key.cmp(&b.key),
    }
}

impl Server {
    /// Answers `query` on `stream`'s keyed state in `job`, with at most `limit` entries.
    pub fn query_state(
        &self,
        job: &str,
        stream: &str,
        query: &StateQuery,
        limit: usize,
    ) -> Result<StateAnswer, ServerError> {
        self.get(job)?;
        let root = self.jobs_dir().join(job).join("checkpoint");
        let restored = crate::checkpoint::latest(&root)
            .map_err(|e| ServerError::Precondition(e.to_string()))?
            .ok_or_else(|| ServerError::Precondition(format!("job `{job}` has no checkpoint yet")))?;
        let entries = crate::checkpoint::keyed_state(&restored, stream).map_err(|e| match e {
            KeyedStateError::NoState { stream, held, .. } => ServerError::NotFound(format!(
                "job `{job}` keeps no state for stream `{stream}` (streams with state: {held})"
            )),
            KeyedStateError::NotKeyed { .. } => ServerError::Spec(e.to_string()),
            other => ServerError::Precondition(other.to_string()),
        })?;
        let all = entries.into_iter().map(|(k, v)| StateEntry {
            key: String::from_utf8_lossy(&k).into_owned(),
            value: v.json(),
            last_seen: v.last_seen,
        });
        let (mut picked, limit): (Vec<_>, usize) = match query {
            StateQuery::Key(key) => (all.filter(|e| &e.key == key).collect(), 1),
            StateQuery::Prefix(p) => (all.filter(|e| e.key.starts_with(p.as_str())).collect(), limit),
            StateQuery::Top(n) => {
                let mut v: Vec<_> = all.collect();
                v.sort_by(by_value_desc);
                (v, *n.min(&limit))
            }
        };
        if matches!(query, StateQuery::Prefix(_)) {
            picked.sort_by(|a, b| a.key.cmp(&b.key));
        }
        let truncated = picked.len() > limit;
        picked.truncate(limit);
        Ok(StateAnswer { as_of: restored.manifest.time, entries: picked, truncated })
    }
}
