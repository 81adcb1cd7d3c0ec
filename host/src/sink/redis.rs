//! Redis Streams sink: each record is one entry (`value` field, and `key` when it has one) with the id
//! `<batch time>-<place in the batch, from 1>`. Ids must grow, so the stream is the sink's own: before
//! each batch the sink reads the stream's last id, and writes only the entries past it (none when a
//! later batch is there already). A batch written
//! again after a crash adds nothing it already holds, and one cut short is completed: exactly once.

use redis::Commands;
use weir_sdk::packed::Batch;

use super::{Sink, SinkError};
use crate::render;

/// A Redis stream written batch by batch.
pub struct RedisSink {
    name: String,
    stream: String,
    con: redis::Connection,
}

impl RedisSink {
    /// A sink named `name` appending to `stream` on `url`.
    pub fn new(name: &str, url: &str, stream: &str) -> Result<RedisSink, SinkError> {
        let err = |message: String| SinkError::Broker { sink: name.into(), message };
        let client = redis::Client::open(url).map_err(|e| err(format!("url `{url}`: {e}")))?;
        let con = client.get_connection().map_err(|e| err(format!("cannot reach {url}: {e}")))?;
        Ok(RedisSink { name: name.into(), stream: stream.into(), con })
    }

    /// The stream's last entry id as (ms, seq), or (0, 0) when it is empty.
    fn last_id(&mut self) -> redis::RedisResult<(u64, u64)> {
        let last: redis::streams::StreamRangeReply = self.con.xrevrange_count(&self.stream, "+", "-", 1)?;
        let id = last.ids.first().map(|e| e.id.clone()).unwrap_or_default();
        let parse = |s: Option<&str>| s.and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut parts = id.split('-');
        Ok((parse(parts.next()), parse(parts.next())))
    }
}

impl Sink for RedisSink {
    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        let sink = self.name.clone();
        let err =
            |e: redis::RedisError| SinkError::Broker { sink: sink.clone(), message: format!("batch {time}: {e}") };
        let (last_ms, last_seq) = self.last_id().map_err(err)?;
        if last_ms > time {
            // A later batch was begun, so this one was written whole before the crash.
            return Ok(());
        }
        let mut pipe = redis::pipe();
        let mut queued = 0;
        for (seq, &i) in order.iter().enumerate() {
            // `seq + 1`: Redis refuses the id 0-0.
            let seq = seq as u64 + 1;
            if last_ms == time && seq <= last_seq {
                continue;
            }
            queued += 1;
            let r = records.get(i);
            let value = render::value_text(&r.value);
            let id = format!("{time}-{seq}");
            match r.key {
                Some(k) => {
                    pipe.xadd(&self.stream, id, &[("key", render::lossy(k).as_ref()), ("value", value.as_str())])
                }
                None => pipe.xadd(&self.stream, id, &[("value", value.as_str())]),
            };
        }
        if queued > 0 {
            let _: Vec<redis::Value> = pipe.query(&mut self.con).map_err(err)?;
        }
        Ok(())
    }
}
