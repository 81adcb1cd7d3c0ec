//! Benchmark (not a test): what the job handle costs a platform user. Prints
//! - start to first output: `Job::start` of a realtime Wasm word count until its first batch completes;
//! - loading a precompiled component (the content-hash cache warm), as a job start does per plugin;
//! - batch delays around a hot swap: the longest scheduling delay and processing time of the batches
//!   before the swap and of those from the swap batch on, with 100 ms batches.
//!
//!     cargo bench -p weir --bench platform

mod common;

use std::time::{Duration, Instant};

use common::{repo, tokenizer};
use weir::event::JobEvent;
use weir::job::{Env, Job, RunOptions, StopRequest};

fn spec(dir: &std::path::Path) -> String {
    format!(
        "[job]\nname = \"platform-bench\"\nbatch_interval = \"100ms\"\nworkers = 2\n\n\
         [sources.lines]\nkind = \"generator\"\nrate = 200000\nvocabulary = 10000\n\n\
         [streams.words]\nop = \"wasm\"\nfrom = \"lines\"\nplugin = \"{}\"\n\n\
         [streams.pairs]\nop = \"map_to_pair\"\nfrom = \"words\"\n\n\
         [streams.counts]\nop = \"reduce_by_key\"\nfrom = \"pairs\"\nreducer = \"sum\"\n\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"counts\"\npath = \"{}\"\n",
        tokenizer().display(),
        dir.join("counts.jsonl").display()
    )
}

/// The longest scheduling delay and processing time among `batches` (ms).
fn worst(batches: &[(u64, Option<u64>, u64)]) -> (u64, u64) {
    let delay = batches.iter().filter_map(|b| b.1).max().unwrap_or(0);
    (delay, batches.iter().map(|b| b.2).max().unwrap_or(0))
}

fn main() {
    let env = Env::process().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.toml");
    let text = spec(dir.path());
    std::fs::write(&path, &text).unwrap();

    // Loading a component whose compiled form is cached, as every start after the first does.
    let engine = env.plugins().unwrap();
    engine.load(&tokenizer()).unwrap();
    let loads: Vec<Duration> = (0..20)
        .map(|_| {
            let start = Instant::now();
            engine.load(&tokenizer()).unwrap();
            start.elapsed()
        })
        .collect();
    let best = loads.iter().min().unwrap();
    let median = {
        let mut l = loads.clone();
        l.sort();
        l[l.len() / 2]
    };
    println!("load a precompiled component (tokenize.wasm): best {best:.2?}, median {median:.2?} (goal <= 5 ms)");

    let started = Instant::now();
    let job = Job::start(weir::graph::parse(&path, &text).unwrap(), RunOptions::default(), &env).unwrap();
    let mut events = job.subscribe();
    let mut batches: Vec<(u64, Option<u64>, u64)> = Vec::new();
    let mut first_output = None;
    let mut swap_from = None;
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        match events.try_recv() {
            Ok(JobEvent::BatchCompleted { time, scheduling_delay_ms, processing_ms, .. }) => {
                first_output.get_or_insert_with(|| started.elapsed());
                batches.push((time, scheduling_delay_ms, processing_ms));
                if batches.len() == 30 && swap_from.is_none() {
                    let v2 = repo().join("operators/target/wasm32-wasip2/release/tokenize_v2.wasm");
                    swap_from = Some(job.swap("words", &v2, Duration::from_secs(10)).unwrap());
                }
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    job.stop(StopRequest::AtBoundary);
    let report = job.wait().unwrap();
    let from = swap_from.expect("swapped");
    let pick = |keep: &dyn Fn(u64) -> bool| batches.iter().copied().filter(|b| keep(b.0)).collect::<Vec<_>>();
    let (before, near, after) =
        (pick(&|t| t < from), pick(&|t| (from..from + 1000).contains(&t)), pick(&|t| t >= from));
    println!("start to first output (realtime, 100 ms batches, 2 workers): {:.0?}", first_output.unwrap());
    println!("batches: {} cut, {} completed seen; swap from batch {from}", report.batches, batches.len());
    let (d, p) = worst(&before);
    println!("before the swap ({} batches): longest scheduling delay {d} ms, longest processing {p} ms", before.len());
    let (d, p) = worst(&near);
    println!(
        "first second after it ({} batches): longest scheduling delay {d} ms, longest processing {p} ms",
        near.len()
    );
    let (d, p) = worst(&after);
    println!("all after it ({} batches): longest scheduling delay {d} ms, longest processing {p} ms", after.len());
}
