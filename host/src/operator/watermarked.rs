//! The frame of an operator that follows event time: its keyed records and the watermark's parts come in
//! as one input (so one frontier says when batch `t` is complete); for each completed batch it runs the
//! operator's step on its state, which it restores from and saves to the checkpoint, and gives what the
//! step returns to its two outputs: the records out and the late records.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::Concatenate;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::operator::Operator;
use weir_sdk::packed::Batch;

use super::watermark::{Part, PartStream};
use crate::batcher::{BatchTimes, Shared};
use crate::checkpoint::{HookExt, HookSlot, PartHook};
use crate::stream::BatchStream;

/// When an event-time operator's batches complete, and where its state is saved.
pub struct Timing {
    /// The stream's name.
    pub name: String,
    /// Time of its first batch.
    pub first_time: u64,
    /// Its batch interval.
    pub interval: u64,
    /// Batch progress.
    pub shared: Arc<Shared>,
    /// The checkpoint hook.
    pub hook: HookSlot,
    /// Where the job's watermark is shown (the batch-completed event reads it).
    pub watermark: super::watermark::Shown,
}

/// One input of the operator: records of this worker's keys, or a part of the watermark.
#[derive(Clone)]
enum In {
    Records(Batch),
    Part(Part),
}

/// One output of the operator.
type Out = OutputBuilder<u64, timely::container::CapacityContainerBuilder<Vec<Batch>>>;

/// The two streams an event-time operator writes: its records, and the late ones.
pub type Outputs<'s> = (BatchStream<'s>, BatchStream<'s>);

/// What an event-time operator's state does at checkpoints.
pub trait Checkpointed {
    /// Batch `t` is done: save what a checkpoint of it must hold, if it is checkpointed.
    fn after_batch(&mut self, t: u64);
    /// The input ended: save what the final checkpoint must hold (called again on later activations).
    fn at_input_end(&mut self);
    /// The watermark the state has folded so far.
    fn watermark(&self) -> i64;
}

/// A state that folds the job's watermark.
pub trait Watermarked {
    /// The watermark folded so far.
    fn watermark(&self) -> i64;
}

/// A state saved whole, through one hook.
struct Whole<S> {
    state: S,
    hook: Option<PartHook>,
}

impl<S: Serialize + Watermarked> Checkpointed for Whole<S> {
    fn after_batch(&mut self, t: u64) {
        self.hook.after_batch(t, &self.state);
    }

    fn at_input_end(&mut self) {
        self.hook.at_input_end(true, &self.state);
    }

    fn watermark(&self) -> i64 {
        self.state.watermark()
    }
}

/// Runs `step(state, t, records, parts)` for every completed batch `t` of `records` (already on the
/// worker owning their keys) with the watermark's `parts`; `state` starts as given, or as the checkpoint
/// the job resumed from saved it.
///
/// ```
/// // Exercised end to end by the event-time golden cases (`event_window`, `drop_duplicates`).
/// let w = weir::operator::watermark::Watermark::new(1);
/// assert_eq!(w.at, i64::MIN);
/// ```
pub fn watermarked<'s, S>(
    records: BatchStream<'s>,
    parts: PartStream<'s>,
    timing: Timing,
    mut state: S,
    mut step: impl FnMut(&mut S, u64, &[Batch], &[Part]) -> (Batch, Batch) + 'static,
) -> Outputs<'s>
where
    S: Serialize + DeserializeOwned + Watermarked + 'static,
{
    let hook = timing.hook.open(&mut state, &timing.shared);
    let whole = Whole { state, hook };
    frame(records, parts, timing, whole, move |w, t, records, parts| step(&mut w.state, t, records, parts))
}

/// [`watermarked`] for a state that saves itself ([`Checkpointed`]); `timing.hook` is not used.
///
/// ```
/// // Exercised end to end by `map_with_state` with event-time timeouts (tests/golden/event-timeouts).
/// assert_eq!(weir::operator::watermark::Watermark::new(2).at, i64::MIN);
/// ```
pub fn frame<'s, C: Checkpointed + 'static>(
    records: BatchStream<'s>,
    parts: PartStream<'s>,
    timing: Timing,
    mut state: C,
    mut step: impl FnMut(&mut C, u64, &[Batch], &[Part]) -> (Batch, Batch) + 'static,
) -> Outputs<'s> {
    let scope = records.scope();
    let records: Stream<'s, u64, Vec<In>> = records.unary(Pipeline, "watermarked-records", |_cap, _info| {
        |input, output| input.for_each(|cap, data| output.session(&cap).give_iterator(data.drain(..).map(In::Records)))
    });
    let parts: Stream<'s, u64, Vec<In>> = parts.unary(Pipeline, "watermarked-parts", |_cap, _info| {
        |input, output| input.for_each(|cap, data| output.session(&cap).give_iterator(data.drain(..).map(In::Part)))
    });
    let mut builder = OperatorBuilder::new(timing.name.clone(), scope);
    let mut input = builder.new_input(scope.concatenate(vec![records, parts]), Pipeline);
    let (out, out_stream) = builder.new_output::<Vec<Batch>>();
    let (late, late_stream) = builder.new_output::<Vec<Batch>>();
    let (mut out, mut late): (Out, Out) = (OutputBuilder::from(out), OutputBuilder::from(late));
    builder.build(move |mut caps| {
        let mut cap = caps.pop().and_then(|late_cap| caps.pop().map(|c| (c, late_cap)));
        let mut times = BatchTimes::new(timing.first_time, timing.interval, timing.shared.clone());
        let mut stash: HashMap<u64, (Vec<Batch>, Vec<Part>)> = HashMap::new();
        move |frontiers| {
            let (mut out, mut late) = (out.activate(), late.activate());
            input.for_each(|c, data| {
                let (records, parts) = stash.entry(*c.time()).or_default();
                for item in data.drain(..) {
                    match item {
                        In::Records(b) => records.push(b),
                        In::Part(p) => parts.push(p),
                    }
                }
            });
            let frontier = &frontiers[0];
            for t in times.completed(frontier) {
                let (records, parts) = stash.remove(&t).unwrap_or_default();
                let (written, too_late) = step(&mut state, t, &records, &parts);
                state.after_batch(t);
                timing.watermark.note(t, state.watermark());
                if let Some((c, lc)) = &cap {
                    if !written.is_empty() {
                        out.session(&c.delayed(&t)).give(written);
                    }
                    if !too_late.is_empty() {
                        late.session(&lc.delayed(&t)).give(too_late);
                    }
                }
            }
            if frontier.frontier().is_empty() {
                state.at_input_end();
            }
            match cap.as_mut() {
                _ if frontier.frontier().is_empty() => cap = None,
                Some((c, lc)) => {
                    c.downgrade(&times.next());
                    lc.downgrade(&times.next());
                }
                None => {}
            }
        }
    });
    (out_stream, late_stream)
}
