//! The manual clock: batch k (time k × interval) closes once every live source has delivered its k-th
//! unit — a scripted line, N files, N generated lines. Nothing depends on timing, so output is exact.

use std::collections::VecDeque;

use weir_sdk::packed::Batch;

use super::Batcher;
use crate::receiver::SourceEvent;

#[derive(Default)]
struct SourceUnits {
    current: Vec<Batch>,
    complete: VecDeque<Vec<Batch>>,
    finished: bool,
}

impl SourceUnits {
    fn ready(&self) -> bool {
        self.finished || !self.complete.is_empty()
    }
}

pub(super) fn run(b: &Batcher) -> u64 {
    let mut units: Vec<SourceUnits> = (0..b.sources.len()).map(|_| SourceUnits::default()).collect();
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
                    u.complete.push_back(unit);
                }
                Some(SourceEvent::Finished) => {
                    u.finished = true;
                    if !u.current.is_empty() {
                        let unit = std::mem::take(&mut u.current);
                        u.complete.push_back(unit);
                    }
                }
                _ => {}
            }
        }
        if units.iter().all(|u| u.finished && u.complete.is_empty()) || b.should_stop(batches) {
            return batches;
        }
        let parts = units.iter_mut().map(|u| u.complete.pop_front().unwrap_or_default()).collect();
        if !b.emit(time, parts) {
            return batches;
        }
        batches += 1;
        time += b.interval;
    }
}
