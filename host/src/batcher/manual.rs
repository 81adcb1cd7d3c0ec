//! The manual clock: batch k (time k × interval) closes once every live source has delivered its k-th
//! unit — a scripted line, N files, N generated lines. Nothing depends on timing, so output is exact.

use std::collections::VecDeque;

use weir_sdk::packed::Batch;

use super::{Batcher, Cut};
use crate::checkpoint::SourceOffset;
use crate::receiver::SourceEvent;

/// One source's units: the one being received, and those complete, each with the offset at its end.
struct SourceUnits {
    current: Vec<Batch>,
    offset: SourceOffset,
    complete: VecDeque<(Vec<Batch>, SourceOffset)>,
    /// The offset at the end of the last unit cut into a batch.
    emitted: SourceOffset,
    finished: bool,
}

impl SourceUnits {
    fn ready(&self) -> bool {
        self.finished || !self.complete.is_empty()
    }
}

pub(super) fn run(b: &Batcher, cut: &mut Cut) -> u64 {
    let mut units: Vec<SourceUnits> = b
        .start
        .iter()
        .map(|o| SourceUnits {
            current: Vec::new(),
            offset: o.clone(),
            complete: VecDeque::new(),
            emitted: o.clone(),
            finished: false,
        })
        .collect();
    let mut batches = 0;
    let mut time = b.first_time;
    loop {
        while !units.iter().all(SourceUnits::ready) {
            let Ok(env) = b.rx.recv() else {
                units.iter_mut().for_each(|u| u.finished = true);
                break;
            };
            let u = &mut units[env.source];
            match b.absorb(env.source, env.event, &mut u.current) {
                Some(SourceEvent::UnitEnd) => {
                    let unit = std::mem::take(&mut u.current);
                    u.complete.push_back((unit, u.offset.clone()));
                }
                Some(SourceEvent::Mark(m)) => u.offset.apply(m),
                Some(SourceEvent::Finished) => {
                    u.finished = true;
                    if !u.current.is_empty() {
                        let unit = std::mem::take(&mut u.current);
                        u.complete.push_back((unit, u.offset.clone()));
                    }
                }
                _ => {}
            }
        }
        if units.iter().all(|u| u.finished && u.complete.is_empty()) || b.should_stop(batches) {
            return batches;
        }
        let mut parts = Vec::with_capacity(units.len());
        for u in units.iter_mut() {
            match u.complete.pop_front() {
                Some((unit, offset)) => {
                    parts.push(unit);
                    u.emitted = offset;
                }
                None => parts.push(Vec::new()),
            }
        }
        let offsets: Vec<SourceOffset> = units.iter().map(|u| u.emitted.clone()).collect();
        if !b.emit(time, parts, &offsets, cut) {
            return batches;
        }
        batches += 1;
        time += b.interval;
    }
}
