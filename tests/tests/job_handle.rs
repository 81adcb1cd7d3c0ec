//! A job is a handle: `Job::start` returns at once; the handle stops (drain, at a boundary) or cancels
//! the job, tells its typed events, its status and its report. Jobs share one environment (one I/O
//! runtime, one plugin engine), and one can be started from inside an async runtime, as a server's
//! request handler would, with database sinks and tables that used to build runtimes of their own.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use weir::event::JobEvent;
use weir::job::{Env, Job, JobState, RunOptions, StopRequest};
use weir_tests::crash::{PG_URL, psql};
use weir_tests::read_jsonl;

/// A realtime word count of generated lines in `dir`, checkpointed every `every` batches of 100 ms.
fn plan(dir: &Path, name: &str, every: u64, extra: &str) -> weir::graph::Plan {
    let spec = format!(
        "[job]\nname = \"{name}\"\nbatch_interval = \"100ms\"\n\n\
         [sources.lines]\nkind = \"generator\"\nrate = 2000\nvocabulary = 5\nseed = 1\n\n\
         [streams.words]\nop = \"tokenize\"\nfrom = \"lines\"\n\n\
         [streams.pairs]\nop = \"map_to_pair\"\nfrom = \"words\"\n\n\
         [streams.counts]\nop = \"reduce_by_key\"\nfrom = \"pairs\"\nreducer = \"sum\"\n\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"counts\"\npath = \"counts.jsonl\"\n\n\
         [checkpoint]\ndir = \"checkpoints\"\nevery = {every}\n{extra}"
    );
    let path = dir.join("job.toml");
    std::fs::write(&path, &spec).unwrap();
    weir::graph::parse(&path, &spec).unwrap()
}

/// The next event `pick` accepts, within 10 s.
fn next<T>(events: &mut broadcast::Receiver<JobEvent>, pick: impl Fn(&JobEvent) -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match events.try_recv() {
            Ok(e) => {
                if let Some(t) = pick(&e) {
                    return t;
                }
            }
            Err(broadcast::error::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("events: {e}"),
        }
    }
    panic!("no such event within 10 s");
}

fn committed(dir: &Path) -> usize {
    let entries = std::fs::read_dir(dir.join("checkpoints")).into_iter().flatten();
    entries.filter(|e| e.as_ref().unwrap().path().join("manifest.json").is_file()).count()
}

#[test]
fn a_started_job_tells_its_events_and_status_and_drains_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let job = Job::start(plan(dir.path(), "handle", 2, ""), RunOptions::default(), &Env::process().unwrap()).unwrap();
    assert!(started.elapsed() < Duration::from_millis(500), "start returned after {:?}", started.elapsed());
    let mut events = job.subscribe();
    let (time, records) = next(&mut events, |e| {
        if let JobEvent::BatchCut { time, records, .. } = e { Some((*time, records.clone())) } else { None }
    });
    assert!(records.contains_key("lines"), "{records:?}");
    let completed = next(&mut events, |e| match e {
        JobEvent::BatchCompleted { time: t, scheduling_delay_ms, processing_ms, .. } if *t == time => {
            Some((*scheduling_delay_ms, *processing_ms))
        }
        _ => None,
    });
    assert!(completed.0.is_some_and(|d| d < 10_000) && completed.1 < 10_000, "{completed:?}");
    let checkpoint =
        next(&mut events, |e| if let JobEvent::CheckpointCommitted { time, .. } = e { Some(*time) } else { None });
    assert!(checkpoint >= time);
    let status = job.status();
    assert_eq!(status.state, JobState::Running, "{status:?}");
    assert!(status.batches >= 1 && status.last_batch >= Some(time), "{status:?}");

    job.stop(StopRequest::Drain);
    assert_eq!(next(&mut events, |e| if let JobEvent::Stopping { how } = e { Some(*how) } else { None }), "drain");
    let report = job.wait().unwrap();
    assert!(report.batches >= 2, "{report:?}");
    assert_eq!(read_jsonl(&dir.path().join("counts.jsonl")).len() as u64, report.batches, "every batch written");
}

#[test]
fn cancel_stops_without_a_final_checkpoint_and_stop_takes_one() {
    let env = Env::process().unwrap();
    for (how, checkpoints) in [(StopRequest::Cancel, 0), (StopRequest::AtBoundary, 1)] {
        let dir = tempfile::tempdir().unwrap();
        // No batch is due for a checkpoint: only a final one can be committed.
        let job = Job::start(plan(dir.path(), "cancel", 1_000_000, ""), RunOptions::default(), &env).unwrap();
        let mut events = job.subscribe();
        for _ in 0..3 {
            next(&mut events, |e| matches!(e, JobEvent::BatchCut { .. }).then_some(()));
        }
        job.stop(how);
        let report = job.wait().unwrap();
        assert!(report.batches >= 3);
        assert_eq!(committed(dir.path()), checkpoints, "{how:?}");
    }
}

#[test]
fn a_failed_start_is_an_event_and_a_status_saying_whose_fault_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let spec =
        plan(dir.path(), "bad", 1, "").text.replace("op = \"tokenize\"", "op = \"wasm\"\nplugin = \"nowhere.wasm\"");
    std::fs::write(dir.path().join("nowhere.wasm"), "not wasm").unwrap();
    let plan = weir::graph::parse(&dir.path().join("job.toml"), &spec).unwrap();
    let job = Job::start(plan, RunOptions::default(), &Env::process().unwrap()).unwrap();
    let mut events = job.subscribe();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !job.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = job.status();
    assert_eq!(status.state, JobState::Failed, "{status:?}");
    assert!(status.error.as_deref().is_some_and(|e| e.contains("nowhere.wasm")), "{status:?}");
    let err = job.wait().unwrap_err();
    assert!(err.is_refused_spec() && err.is_users_fault(), "{err}");
    // The event may have gone before this subscriber came; when it did not, it says the same.
    if let Ok(JobEvent::Failed { error, users_fault }) = events.try_recv() {
        assert!(users_fault && error.contains("nowhere.wasm"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_database_sinks_and_tables_starts_from_inside_an_async_handler() {
    let table = format!("weir_handle_{}", std::process::id());
    psql(&format!("DROP TABLE IF EXISTS {table}; DELETE FROM weir_sink_commits WHERE job = 'in-async'"));
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "\n[tables.names]\nkind = \"postgres\"\nurl = \"{PG_URL}\"\nquery = \"SELECT 'w1' AS word, 'one' AS name\"\n\
         key = \"word\"\nvalue = \"name\"\n\n\
         [streams.named]\nop = \"join_table\"\nfrom = \"counts\"\ntable = \"names\"\n\n\
         [sinks.db]\nkind = \"postgres\"\nfrom = \"named\"\nurl = \"{PG_URL}\"\ntable = \"{table}\"\n"
    );
    let plan = plan(dir.path(), "in-async", 1, &extra);
    let opts = RunOptions { max_batches: Some(5), ..RunOptions::default() };
    let env: Arc<Env> = Env::process().unwrap();
    // As a request handler would: on a runtime thread, start, then wait off it.
    let job = Job::start(plan, opts, &env).unwrap();
    let report = tokio::task::spawn_blocking(move || job.wait()).await.unwrap().unwrap();
    assert_eq!(report.batches, 5);
    // Every batch committed, and `w1` joined with its name wherever it came. A realtime batch holds what
    // the generator made in its 100 ms: on a loaded machine some hold nothing, so rows are not counted.
    let commits = psql("SELECT count(*) FROM weir_sink_commits WHERE job = 'in-async' AND sink = 'db'");
    assert_eq!(commits, ["5"], "every batch written");
    let joined = psql(&format!(
        "SELECT count(*), count(*) FILTER (WHERE value::text LIKE '%one%') FROM {table} WHERE key = 'w1'"
    ));
    let (all, named) = joined[0].split_once('|').unwrap();
    assert!(all.parse::<u64>().unwrap() >= 1 && all == named, "w1 joined in every batch it came in: {joined:?}");
    psql(&format!("DROP TABLE IF EXISTS {table}; DELETE FROM weir_sink_commits WHERE job = 'in-async'"));
}

#[test]
fn two_jobs_run_side_by_side_in_one_environment() {
    let env = Env::process().unwrap();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let opts = RunOptions { max_batches: Some(8), ..RunOptions::default() };
    let jobs: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| Job::start(plan(d.path(), &format!("side-{i}"), 2, ""), opts.clone(), &env).unwrap())
        .collect();
    for (job, dir) in jobs.into_iter().zip(&dirs) {
        assert_eq!(job.wait().unwrap().batches, 8);
        assert_eq!(read_jsonl(&dir.path().join("counts.jsonl")).len(), 8);
    }
}

#[test]
fn a_stop_asked_before_the_job_started_is_seen_and_every_log_line_names_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let stopper = weir::job::Stopper::default();
    stopper.request(StopRequest::Drain);
    let job = Job::start_stopped_by(
        plan(dir.path(), "early", 1, ""),
        RunOptions::default(),
        &Env::process().unwrap(),
        stopper,
    )
    .unwrap();
    let started = Instant::now();
    job.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "the early stop was missed: {:?}", started.elapsed());

    // Through the CLI: the lines of the job's own threads and tasks carry `job{job=NAME}`.
    plan(dir.path(), "named", 1, "");
    let out = std::process::Command::new(weir_tests::weir_bin())
        .args(["run", "job.toml", "--batches", "3"])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("weir::")).collect();
    let unnamed: Vec<&&str> =
        lines.iter().filter(|l| !l.contains("job{job=named}") && !l.contains("weir::cli")).collect();
    assert!(!lines.is_empty() && unnamed.is_empty(), "lines without the job's name: {unnamed:#?}");
}

#[test]
fn a_failed_plugin_call_and_its_dead_letter_are_events_the_status_counts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.jsonl"), "[\"a\", \"boom\", \"b\"]\n[\"c\"]\n").unwrap();
    let spec = format!(
        "[job]\nname = \"failing\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
         [sources.in]\nkind = \"scripted\"\npath = \"input.jsonl\"\n\n\
         [streams.guarded]\nop = \"wasm\"\nfrom = \"in\"\nplugin = \"{}\"\n\n\
         [sinks.out]\nkind = \"noop\"\nfrom = \"guarded\"\n",
        weir_tests::plugin("sandbox").display()
    );
    let plan = weir::graph::parse(&dir.path().join("job.toml"), &spec).unwrap();
    let job = Job::start(plan, RunOptions::default(), &Env::process().unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (!job.is_finished() || job.status().dead_letters == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = job.status();
    assert_eq!(status.state, JobState::Finished, "{status:?}");
    assert!(status.plugin_failures >= 1 && status.dead_letters == 1, "only `boom` is blamed: {status:?}");
    let report = job.wait().unwrap();
    assert_eq!((report.failed_batches, report.dead_letters), (1, 1));
}

#[test]
fn a_completed_batch_tells_each_streams_records_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.jsonl"), "[\"The THE the the\", \"a\"]\n[\"b b\"]\n").unwrap();
    let spec = "[job]\nname = \"figures\"\nbatch_interval = \"1s\"\nclock = \"manual\"\nworkers = 2\n\n\
                [sources.lines]\nkind = \"scripted\"\npath = \"in.jsonl\"\npace = \"300ms\"\n\n\
                [streams.words]\nop = \"tokenize\"\nfrom = \"lines\"\n\n\
                [streams.pairs]\nop = \"map_to_pair\"\nfrom = \"words\"\n\n\
                [streams.counts]\nop = \"reduce_by_key\"\nfrom = \"pairs\"\nreducer = \"sum\"\n\n\
                [sinks.out]\nkind = \"noop\"\nfrom = \"counts\"\n";
    let path = dir.path().join("job.toml");
    std::fs::write(&path, spec).unwrap();
    let job =
        Job::start(weir::graph::parse(&path, spec).unwrap(), RunOptions::default(), &Env::process().unwrap()).unwrap();
    let mut events = job.subscribe();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let (time, streams) = next(&mut events, |e| {
            if let JobEvent::BatchCompleted { time, streams, .. } = e { Some((*time, streams.clone())) } else { None }
        });
        let figures: Vec<(String, u64, u64)> =
            streams.iter().map(|(s, f)| (s.clone(), f.records_in, f.records_out)).collect();
        seen.push((time, figures));
    }
    job.wait().unwrap();
    let row = |s: &str, i, o| (s.to_string(), i, o);
    assert_eq!(
        seen[0],
        (1000, vec![row("counts", 5, 4), row("lines", 2, 2), row("words", 2, 5)]),
        "the fused `pairs` is not listed"
    );
    assert_eq!(seen[1], (2000, vec![row("counts", 2, 1), row("lines", 1, 1), row("words", 1, 2)]));
}

#[test]
fn each_completed_batch_tells_the_watermark_its_event_time_operators_folded() {
    // tests/golden/event-time-append: the largest event time so far less 5 s, batch by batch.
    let golden = weir_tests::repo_root().join("tests/golden/event-time-append");
    for workers in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        weir_tests::copy_dir(&golden, dir.path());
        let mut plan = weir::graph::load(&dir.path().join("job.toml")).unwrap();
        plan.workers = workers;
        let events = weir::event::Events::default();
        let mut seen = events.subscribe();
        let env = Env::process().unwrap();
        let job = Job::start_with_events(plan, RunOptions::default(), &env, Default::default(), events).unwrap();
        job.wait().unwrap();
        let marks: Vec<Option<i64>> = std::iter::from_fn(|| seen.try_recv().ok())
            .filter_map(|e| if let JobEvent::BatchCompleted { watermark, .. } = e { Some(watermark) } else { None })
            .collect();
        let want = [7_000, 16_000, 21_000, 35_000, 35_000].map(Some);
        assert_eq!(marks, want, "{workers} workers");
    }
}
