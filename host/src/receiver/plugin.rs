//! A source written as a Wasm component (the `source` world). Its offsets are its own text, stored as
//! `SourceOffset::Own`: a resumed job seeks it to its checkpoint's offset, polls it up to each batch
//! logged before the crash so those batches are cut again the same, and tells it each offset a committed
//! checkpoint holds, so it acknowledges upstream only then.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::plugin_thread::{CallError, Maker, PluginThread};
use super::source::{Commits, Source, SourceContext, SourceTask};
use super::{Outbox, SourceEvent};
use crate::checkpoint::{OffsetMark, SourceOffset};
use crate::operator::wasm::PluginInstance;
use crate::operator::wasm::connector::Connector;
use crate::operator::wasm::http::HttpGate;

/// How long a plugin that answers with errors is asked again before the job fails.
const PATIENCE: Duration = Duration::from_secs(60);
/// Failed calls in a row the sandbox may stop (each made anew) before the job fails.
const SANDBOX_FAILURES: u32 = 3;
const FIRST_IDLE: Duration = Duration::from_millis(10);
const LONGEST_IDLE: Duration = Duration::from_millis(200);

/// A plugin source, as the job loaded and checked it.
pub struct PluginSource {
    /// The component and what its instances are made with.
    pub connector: Connector,
    /// Parameters for its `init`.
    pub params: BTreeMap<String, String>,
    /// Most records one `poll` returns.
    pub poll_records: u32,
}

impl Source for PluginSource {
    fn run(self: Box<Self>, mut ctx: SourceContext, out: Outbox) -> SourceTask {
        Box::pin(async move {
            let name = ctx.name.clone();
            if let Err(why) = self.read(&mut ctx, &out).await {
                out.send(SourceEvent::Failed(format!("source `{name}`: {why}"))).await;
            }
        })
    }
}

/// The text of a plugin source's offset (`None`: the start); any other kind of offset is refused.
fn offset_text(o: &SourceOffset) -> Result<Option<String>, String> {
    match o {
        SourceOffset::Start => Ok(None),
        SourceOffset::Own(Value::String(s)) => Ok(Some(s.clone())),
        other => Err(format!("the checkpoint's offset {other:?} is not a plugin source's (did `kind` change?)")),
    }
}

impl PluginSource {
    fn maker(&self, ctx: &SourceContext) -> Maker {
        let Connector { plugin, limits, http: (hosts, timeout) } = self.connector.clone();
        let params = self.params.clone();
        let (job, name) = (ctx.job.clone(), ctx.name.clone());
        Box::new(move || {
            let gate = HttpGate::open(&format!("source `{name}`"), &hosts, timeout);
            let mut inst = PluginInstance::with_gate(&plugin, limits, &job, &name, gate).map_err(|e| e.to_string())?;
            inst.init(&params).map_err(|e| e.to_string())?;
            Ok(inst)
        })
    }

    async fn read(self, ctx: &mut SourceContext, out: &Outbox) -> Result<(), String> {
        let at = offset_text(&ctx.start)?;
        let thread = PluginThread::start(&ctx.name, self.maker(ctx), at.clone()).map_err(|e| e.to_string())?;
        let (t, name) = (thread.clone(), ctx.name.clone());
        ctx.acknowledge(move |commits| commit_loop(t, name, commits));
        // Under a low `max_rate`, fewer records a poll, so batches fill evenly.
        let max = out.chunk_lines(self.poll_records as usize).max(1) as u32;
        let mut r = Reader { thread, at, max, manual: ctx.manual, idle: FIRST_IDLE, failures: Failures::default() };
        for cut in &ctx.cuts {
            let Some(until) = offset_text(cut)? else { continue };
            if r.at.as_deref() == Some(until.as_str()) {
                continue;
            }
            if !r.replay_to(until, out).await? {
                return Ok(());
            }
        }
        r.live(out).await
    }
}

/// Reads a plugin source through its thread.
struct Reader {
    thread: PluginThread,
    at: Option<String>,
    max: u32,
    manual: bool,
    idle: Duration,
    failures: Failures,
}

impl Reader {
    /// One poll, handed to the batcher as one event so a batch is never cut between records and their
    /// offset: the records read and whether the input ended, `None` once the job has gone away.
    async fn poll(&mut self, until: Option<&str>, out: &Outbox) -> Result<Option<(usize, bool)>, String> {
        let polled = loop {
            match self.thread.poll(self.max, until.map(str::to_string)).await? {
                Ok(p) => {
                    self.failures = Failures::default();
                    break p;
                }
                Err(e) => self.failures.wait(e).await?,
            }
        };
        let moved = self.at.as_deref() != Some(polled.offset.as_str());
        let n = polled.records.len();
        if !moved && n > 0 {
            // A replay from that offset would take these records twice.
            return Err(format!("`poll` returned {n} records but its offset stayed {:?}", polled.offset));
        }
        let mark = OffsetMark::Own(Value::String(polled.offset.clone()));
        let sent = match (n, moved) {
            (0, false) => true,
            (0, true) => out.send(SourceEvent::Mark(mark)).await,
            _ => out.send(SourceEvent::Marked(polled.records, mark)).await,
        };
        self.at = Some(polled.offset);
        Ok(sent.then_some((n, polled.finished)))
    }

    /// Polls up to exactly `until`, the end of a batch logged before a crash; false when the job has
    /// gone away or the input ended before it.
    async fn replay_to(&mut self, until: String, out: &Outbox) -> Result<bool, String> {
        while self.at.as_deref() != Some(until.as_str()) {
            let Some((n, finished)) = self.poll(Some(&until), out).await? else { return Ok(false) };
            if finished && self.at.as_deref() != Some(until.as_str()) {
                tracing::warn!("the plugin's input ended before the logged offset {until:?}");
                out.send(SourceEvent::Finished).await;
                return Ok(false);
            }
            if n == 0 {
                self.pause(out).await;
            }
        }
        Ok(true)
    }

    /// Live data until the input ends or the job drains; with the manual clock each poll that gives
    /// records is one unit.
    async fn live(mut self, out: &Outbox) -> Result<(), String> {
        loop {
            if out.draining() {
                out.send(SourceEvent::Finished).await;
                return Ok(());
            }
            let Some((n, finished)) = self.poll(None, out).await? else { return Ok(()) };
            if n > 0 && self.manual && !out.send(SourceEvent::UnitEnd).await {
                return Ok(());
            }
            if finished {
                out.send(SourceEvent::Finished).await;
                return Ok(());
            }
            if n == 0 {
                self.pause(out).await;
            } else {
                self.idle = FIRST_IDLE;
            }
        }
    }

    /// Waits a little before asking a source that had nothing new, longer each time it has nothing.
    async fn pause(&mut self, out: &Outbox) {
        tokio::select! {
            _ = tokio::time::sleep(self.idle) => {}
            _ = out.drained() => {}
        }
        self.idle = (self.idle * 2).min(LONGEST_IDLE);
    }
}

/// The failed calls of a plugin source since its last good one.
#[derive(Default)]
struct Failures {
    sandbox: u32,
    since: Option<Instant>,
    wait: Duration,
}

impl Failures {
    /// Waits before the next try, or fails the source: after [`SANDBOX_FAILURES`] stopped calls in a
    /// row, or errors for longer than [`PATIENCE`].
    async fn wait(&mut self, e: CallError) -> Result<(), String> {
        match e {
            CallError::Sandbox(m) => {
                self.sandbox += 1;
                if self.sandbox >= SANDBOX_FAILURES {
                    return Err(format!("the plugin failed {SANDBOX_FAILURES} times in a row: {m}"));
                }
                tracing::warn!("the plugin failed {m}; making it anew at its last offset");
            }
            CallError::Plugin(m) => {
                let since = *self.since.get_or_insert_with(Instant::now);
                self.wait = (self.wait * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
                if since.elapsed() + self.wait > PATIENCE {
                    return Err(m);
                }
                tracing::warn!("{m}; trying again in {:?}", self.wait);
                tokio::time::sleep(self.wait).await;
            }
        }
        Ok(())
    }
}

/// Tells the plugin each offset a committed checkpoint holds, until the job ends.
async fn commit_loop(thread: PluginThread, name: String, mut commits: Commits) {
    while let Some((time, offset)) = commits.next().await {
        let Ok(Some(through)) = offset_text(&offset) else { continue };
        match thread.commit(through).await {
            Ok(Ok(())) => tracing::debug!(source = %name, batch_time = time, "committed"),
            Ok(Err(e)) => tracing::warn!(source = %name, batch_time = time, "{e:?}"),
            Err(gone) => {
                tracing::warn!(source = %name, "{gone}");
                return;
            }
        }
    }
}
