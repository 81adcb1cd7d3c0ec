//! HTTP webhook sink: one `POST` per batch with the batch as JSON (`{"job", "sink", "time",
//! "records"}`, records as the `jsonl` sink writes them) and the header `Idempotency-Key: job/sink/time`.
//! A 2xx answer means written; a 5xx answer, a 408 or 429, or no answer is tried again with a growing
//! wait (up to `retries` times); any other answer fails the batch and the job, naming the status and the
//! start of the body. With checkpoints the sink records the last batch posted whole
//! ([`super::written`]) and skips it and earlier ones when a resumed job writes them again; the batch
//! posted at a crash is posted again with the same key: at-least-once, which the receiver can make
//! exactly once by the key.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use weir_sdk::packed::Batch;

use super::written::Record;
use super::{Sink, SinkError};
use crate::render;

/// The first wait before a retry; it doubles each time, up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(100);
const MAX_WAIT: Duration = Duration::from_secs(5);

/// A webhook written batch by batch.
pub struct Webhook {
    name: String,
    job: String,
    url: String,
    headers: Vec<(String, String)>,
    retries: u32,
    agent: ureq::Agent,
    written: Record,
}

/// How one attempt went.
enum Attempt {
    Done,
    Retry(String),
    Fail(String),
}

impl Webhook {
    /// A sink of job `job` named `name` posting to `url` with `headers`, each request within `timeout`,
    /// tried `1 + retries` times; `state`/`resume` as for the other broker sinks.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job: &str,
        name: &str,
        url: &str,
        headers: &std::collections::BTreeMap<String, String>,
        timeout: Duration,
        retries: u32,
        resume: bool,
        state: Option<&Path>,
    ) -> Result<Webhook, SinkError> {
        let err = |message: String| SinkError::Broker { sink: name.into(), message };
        let written = Record::open(state, resume).map_err(err)?;
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into();
        Ok(Webhook {
            name: name.into(),
            job: job.into(),
            url: url.into(),
            headers: headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            retries,
            agent,
            written,
        })
    }

    fn body(&self, time: u64, records: &Batch, order: &[usize]) -> Vec<u8> {
        let mut body = Vec::with_capacity(64 + records.values.len() * 2);
        let head = serde_json::json!({"job": self.job, "sink": self.name, "time": time}).to_string();
        // The head's closing brace becomes `,"records":[…]}`.
        body.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
        body.extend_from_slice(b",\"records\":[");
        for (n, &i) in order.iter().enumerate() {
            if n > 0 {
                body.push(b',');
            }
            let _ = serde_json::to_writer(&mut body, &render::RecordJson(records.get(i)));
        }
        let _ = body.write_all(b"]}");
        body
    }

    fn attempt(&self, time: u64, body: &[u8]) -> Attempt {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", format!("{}/{}/{time}", self.job, self.name));
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        match request.send(body) {
            Ok(mut r) => {
                let status = r.status().as_u16();
                if (200..300).contains(&status) {
                    return Attempt::Done;
                }
                let text = r.body_mut().read_to_string().unwrap_or_default();
                let why = format!("{} answered {status}: {}", self.url, text.chars().take(200).collect::<String>());
                if status >= 500 || status == 408 || status == 429 { Attempt::Retry(why) } else { Attempt::Fail(why) }
            }
            Err(e) => Attempt::Retry(format!("{}: {e}", self.url)),
        }
    }
}

impl Sink for Webhook {
    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        if self.written.holds(time) {
            return Ok(());
        }
        let err = |message: String| SinkError::Broker {
            sink: self.name.clone(),
            message: format!("batch {time}: {message}"),
        };
        let body = self.body(time, records, order);
        let mut wait = FIRST_WAIT;
        for tried in 0..=self.retries {
            match self.attempt(time, &body) {
                Attempt::Done => break,
                Attempt::Fail(why) => return Err(err(why)),
                Attempt::Retry(why) if tried == self.retries => {
                    return Err(err(format!("{why} (after {} tries)", tried + 1)));
                }
                Attempt::Retry(why) => {
                    tracing::warn!(sink = %self.name, batch_time = time, "{why}; trying again in {wait:?}");
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(MAX_WAIT);
                }
            }
        }
        let done = self.written.done(time, Default::default());
        done.map_err(|message| SinkError::Broker { sink: self.name.clone(), message })
    }
}
