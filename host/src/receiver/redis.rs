//! Redis Streams source: one stream read through a consumer group, entries acknowledged (`XACK`) only
//! after a checkpoint holding them commits. An entry id `ms-seq` is the source's offset, made one
//! ordered number (`ms × 1,000,000 + seq`, partition 0 of the shared reader), so a resumed job knows
//! which entries its checkpoint holds. After a crash, the entries delivered to this consumer and never
//! acknowledged are read again first (its pending list, `XREADGROUP … 0`), in id order: those the
//! checkpoint holds are skipped (and acknowledged with the next checkpoint), the others taken; then new
//! entries (`>`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamReadOptions, StreamReadReply};

use super::Outbox;
use super::partitioned::{Fetch, Message, Positions, RETRY, Reader, positions, reporting, until_connected};
use super::source::{Commits, Source, SourceContext, SourceTask};
use crate::graph::spec::StartAt;

/// Entries per read.
const COUNT: usize = 1000;
/// How long a read for new entries waits on an idle stream.
const BLOCK_MS: usize = 1000;

/// The source's settings, from its spec.
pub struct RedisSource {
    pub url: String,
    pub stream: String,
    pub group: Option<String>,
    pub consumer: String,
    pub field: String,
    pub start: StartAt,
}

/// An entry id as one ordered number, or `None` past what that can hold.
///
/// ```
/// # use weir::receiver::redis::ordinal;
/// assert_eq!(ordinal("1700000000000-3"), Some(1_700_000_000_000_000_003));
/// assert!(ordinal("5-0") < ordinal("5-1") && ordinal("5-999999") < ordinal("6-0"));
/// assert_eq!(ordinal("5-1000000"), None);
/// ```
pub fn ordinal(id: &str) -> Option<i64> {
    let (ms, seq) = id.split_once('-')?;
    let (ms, seq): (i64, i64) = (ms.parse().ok()?, seq.parse().ok()?);
    (seq < 1_000_000).then(|| ms.checked_mul(1_000_000)?.checked_add(seq)).flatten()
}

/// Entries taken and not yet acknowledged, in order: (ordinal, id).
type Unacked = Arc<Mutex<VecDeque<(i64, String)>>>;

impl Source for RedisSource {
    fn run(self: Box<Self>, ctx: SourceContext, out: Outbox) -> SourceTask {
        Box::pin(async move {
            let name = ctx.name.clone();
            reporting(&name, &out, self.read(ctx, &out)).await;
        })
    }
}

impl RedisSource {
    async fn read(self, mut ctx: SourceContext, out: &Outbox) -> Result<(), String> {
        let client = redis::Client::open(self.url.as_str()).map_err(|e| format!("url `{}`: {e}", self.url))?;
        // Reads block up to BLOCK_MS: the response timeout must be longer.
        let config = ConnectionManagerConfig::new().set_response_timeout(Some(Duration::from_secs(10)));
        let what = format!("Redis at {}", self.url);
        let connect = || client.get_connection_manager_with_config(config.clone());
        let Some(mut con) = until_connected(&ctx.name, &what, out, connect).await else { return Ok(()) };
        let group = self.group.clone().unwrap_or_else(|| format!("weir-{}-{}", ctx.job, ctx.name));
        let from = if self.start == StartAt::Earliest { "0" } else { "$" };
        let made: redis::RedisResult<()> = con.xgroup_create_mkstream(&self.stream, &group, from).await;
        match made {
            Err(e) if e.code() != Some("BUSYGROUP") => return Err(format!("group `{group}`: {e}")),
            _ => {}
        }
        let next = positions(&ctx.start).and_then(|p| p.get(&0).copied()).unwrap_or(0);
        tracing::info!(source = %ctx.name, stream = %self.stream, group = %group, "reading; pending entries first");
        let unacked = Unacked::default();
        // Acknowledgements on a connection of their own: a blocking read would hold them up.
        let Some(ack_con) = until_connected(&ctx.name, &what, out, connect).await else { return Ok(()) };
        let acks = Acks { con: ack_con, stream: self.stream.clone(), group: group.clone(), unacked: unacked.clone() };
        let name = ctx.name.clone();
        ctx.acknowledge(|commits| acks.run(name, commits));
        let fetch = RedisFetch {
            con,
            stream: self.stream,
            group,
            consumer: self.consumer,
            field: self.field,
            pending_after: Some("0".into()),
            buffer: VecDeque::new(),
            unacked,
        };
        Reader::new(fetch, Positions::from([(0, next)]), out).run(&ctx.cuts, out).await;
        Ok(())
    }
}

/// Acknowledges, once a checkpoint commits, every entry taken before the offset it holds.
struct Acks {
    con: ConnectionManager,
    stream: String,
    group: String,
    unacked: Unacked,
}

impl Acks {
    async fn run(mut self, name: String, mut commits: Commits) {
        while let Some((time, offset)) = commits.next().await {
            let Some(next) = positions(&offset).and_then(|p| p.get(&0).copied()) else { continue };
            let ids: Vec<String> = {
                let mut u = self.unacked.lock().unwrap_or_else(|p| p.into_inner());
                let n = u.iter().take_while(|(o, _)| *o < next).count();
                u.drain(..n).map(|(_, id)| id).collect()
            };
            for chunk in ids.chunks(5000) {
                let acked: redis::RedisResult<usize> = self.con.xack(&self.stream, &self.group, chunk).await;
                if let Err(e) = acked {
                    tracing::warn!(source = %name, batch_time = time, "cannot acknowledge entries: {e}");
                }
            }
        }
    }
}

/// Entries from the group, as the shared reader takes them: this consumer's pending ones first.
struct RedisFetch {
    con: ConnectionManager,
    stream: String,
    group: String,
    consumer: String,
    field: String,
    /// Reading the pending list, after this id; `None` once it is read.
    pending_after: Option<String>,
    buffer: VecDeque<Message>,
    unacked: Unacked,
}

impl RedisFetch {
    /// Reads the next entries into the buffer.
    async fn refill(&mut self) {
        let id = self.pending_after.clone().unwrap_or_else(|| ">".into());
        let mut opts = StreamReadOptions::default().group(&self.group, &self.consumer).count(COUNT);
        if self.pending_after.is_none() {
            opts = opts.block(BLOCK_MS);
        }
        let got: redis::RedisResult<Option<StreamReadReply>> =
            self.con.xread_options(&[&self.stream], &[&id], &opts).await;
        let entries = match got {
            Ok(reply) => reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids).collect::<Vec<_>>(),
            Err(e) => {
                tracing::warn!(stream = %self.stream, "redis: {e}");
                tokio::time::sleep(RETRY).await;
                return;
            }
        };
        if self.pending_after.is_some() {
            self.pending_after = entries.last().map(|e| e.id.clone());
        }
        let mut unacked = self.unacked.lock().unwrap_or_else(|p| p.into_inner());
        for e in entries {
            let Some(o) = ordinal(&e.id) else {
                tracing::warn!(stream = %self.stream, "entry {} skipped: its id is past what Weir can order", e.id);
                continue;
            };
            self.buffer.push_back((0, o, e.get::<Vec<u8>>(&self.field), None));
            unacked.push_back((o, e.id));
        }
    }
}

impl Fetch for RedisFetch {
    async fn next(&mut self) -> Message {
        loop {
            if let Some(m) = self.buffer.pop_front() {
                return m;
            }
            self.refill().await;
        }
    }
}
