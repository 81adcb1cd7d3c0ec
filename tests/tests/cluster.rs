//! One job across processes (`weir run --process I --hosts FILE`, `weir cluster run`): the same result as
//! one process over real network namespaces, and clear refusals for a peer that cannot be reached, a peer
//! running another job, a bad hosts file and restarts without checkpoints. The golden cases on 2 and 3
//! processes are in `golden.rs`; checkpoints, kills and rescaling in `cluster_recovery.rs`.

use std::path::Path;
use std::process::{Command, Output};

use weir_tests::{Killed, free_port, read_jsonl, run_spec, weir_bin};

/// A running word count over `batches` scripted batches of pseudo-random words (manual clock).
fn word_count(dir: &Path, batches: usize) {
    let mut seed = 7u64;
    let mut lines = Vec::new();
    for _ in 0..batches {
        let mut batch = Vec::new();
        for _ in 0..50 {
            let words: Vec<String> = (0..8)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    format!("w{}", (seed >> 33) % 500)
                })
                .collect();
            batch.push(words.join(" "));
        }
        lines.push(serde_json::to_string(&batch).unwrap());
    }
    std::fs::write(dir.join("input.jsonl"), lines.join("\n") + "\n").unwrap();
    let spec = format!(
        "[job]\nname = \"cluster-wordcount\"\nbatch_interval = \"1s\"\nclock = \"manual\"\nworkers = 1\n\n\
         [sources.lines]\nkind = \"scripted\"\npath = \"input.jsonl\"\n{}{}\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"counts\"\npath = \"out.jsonl\"\n\n[state]\nephemeral = true\n",
        weir_tests::spec::word_pairs("lines", None),
        weir_tests::spec::running_counts("counts", ""),
    );
    std::fs::write(dir.join("job.toml"), spec).unwrap();
}

/// Waits for a child started with a piped stderr; its exit status and what it said.
fn finish(mut k: Killed) -> (std::process::ExitStatus, String) {
    let mut err = String::new();
    std::io::Read::read_to_string(&mut k.0.stderr.take().unwrap(), &mut err).unwrap();
    (k.0.wait().unwrap(), err)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Two network namespaces joined by a veth pair, removed when dropped.
struct Namespaces {
    names: [String; 2],
}

impl Namespaces {
    fn new(tag: &str) -> Namespaces {
        let names = [format!("weir{tag}a"), format!("weir{tag}b")];
        let (va, vb) = (format!("v{tag}a"), format!("v{tag}b"));
        let ip = |args: &str| {
            let out = Command::new("ip").args(args.split_whitespace()).output().unwrap();
            assert!(out.status.success(), "ip {args}: {}", stderr(&out));
        };
        for n in &names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
            ip(&format!("netns add {n}"));
        }
        let ns = Namespaces { names: names.clone() };
        ip(&format!("link add {va} type veth peer name {vb}"));
        ip(&format!("link set {va} netns {}", names[0]));
        ip(&format!("link set {vb} netns {}", names[1]));
        for (n, (v, addr)) in names.iter().zip([(&va, "10.77.0.1/24"), (&vb, "10.77.0.2/24")]) {
            ip(&format!("-n {n} addr add {addr} dev {v}"));
            ip(&format!("-n {n} link set {v} up"));
            ip(&format!("-n {n} link set lo up"));
        }
        ns
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end in it, and so the pair.
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

#[test]
fn two_processes_in_two_network_namespaces_count_as_one_process_does() {
    let one = tempfile::tempdir().unwrap();
    word_count(one.path(), 30);
    run_spec(&one.path().join("job.toml"), 1).unwrap();
    let expected = read_jsonl(&one.path().join("out.jsonl"));
    assert_eq!(expected.len(), 30);

    let two = tempfile::tempdir().unwrap();
    word_count(two.path(), 30);
    // Each process sees only its namespace: the peer is reachable only over the veth pair.
    std::fs::write(two.path().join("hosts.txt"), "10.77.0.1:7400\n10.77.0.2:7400\n").unwrap();
    let ns = Namespaces::new(&format!("{}", std::process::id() % 10000));
    let run = |i: usize| {
        Command::new("ip")
            .args(["netns", "exec", &ns.names[i]])
            .arg(weir_bin())
            .args(["run", "job.toml", "--process", &i.to_string(), "--hosts", "hosts.txt", "--connect-timeout", "20s"])
            .current_dir(two.path())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let follower = Killed(run(1));
    let leader = run(0).wait_with_output().unwrap();
    assert!(leader.status.success(), "process 0: {}", stderr(&leader));
    let (status, err) = finish(follower);
    assert!(status.success(), "process 1: {err}");
    assert_eq!(read_jsonl(&two.path().join("out.jsonl")), expected, "2 processes in 2 namespaces, against 1 process");
}

#[test]
fn a_peer_that_cannot_be_reached_is_named() {
    let dir = tempfile::tempdir().unwrap();
    word_count(dir.path(), 3);
    let port = free_port();
    std::fs::write(dir.path().join("hosts.txt"), format!("127.0.0.1:{port}\n127.0.0.1:{}\n", free_port())).unwrap();
    let out = Command::new(weir_bin())
        .args(["run", "job.toml", "--process", "1", "--hosts", "hosts.txt", "--connect-timeout", "1s"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let expected = format!("process 1: cannot reach process 0 at 127.0.0.1:{port} within 1s");
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    // And the side that waits names the process that never came.
    let out = Command::new(weir_bin())
        .args(["run", "job.toml", "--process", "0", "--hosts", "hosts.txt", "--connect-timeout", "1s"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(stderr(&out).contains("cannot reach process 1 at 127.0.0.1:"), "{}", stderr(&out));
    assert!(stderr(&out).contains("it did not connect"), "{}", stderr(&out));
}

#[test]
fn a_peer_running_another_job_is_refused() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    word_count(a.path(), 3);
    word_count(b.path(), 3);
    let other =
        std::fs::read_to_string(b.path().join("job.toml")).unwrap().replace("updater = \"sum\"", "updater = \"max\"");
    std::fs::write(b.path().join("job.toml"), other).unwrap();
    let hosts = format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port());
    for d in [&a, &b] {
        std::fs::write(d.path().join("hosts.txt"), &hosts).unwrap();
    }
    let run = |dir: &Path, i: &str| {
        Command::new(weir_bin())
            .args(["run", "job.toml", "--process", i, "--hosts", "hosts.txt", "--connect-timeout", "10s"])
            .current_dir(dir)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let leader = Killed(run(a.path(), "0"));
    let follower = run(b.path(), "1").wait_with_output().unwrap();
    assert!(!follower.status.success());
    assert!(stderr(&follower).contains("process 1: process 0 at 127.0.0.1:"), "{}", stderr(&follower));
    assert!(stderr(&follower).contains("runs another job"), "{}", stderr(&follower));
    let (_, err) = finish(leader);
    assert!(err.contains("process 0: process 1 at 127.0.0.1:"), "{err}");
    assert!(!a.path().join("out.jsonl").exists() || read_jsonl(&a.path().join("out.jsonl")).is_empty());
}

#[test]
fn bad_hosts_files_and_restarts_without_checkpoints_are_refused_naming_what() {
    let dir = tempfile::tempdir().unwrap();
    word_count(dir.path(), 3);
    let refused = |hosts: &str, args: &[&str]| {
        std::fs::write(dir.path().join("hosts.txt"), hosts).unwrap();
        let out = Command::new(weir_bin())
            .args(["run", "job.toml", "--hosts", "hosts.txt"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        stderr(&out)
    };
    let e = refused("127.0.0.1:7400\n# a comment\nnonsense\n", &["--process", "0"]);
    assert!(e.contains("line 3: `nonsense` is not a host:port"), "{e}");
    let e = refused("127.0.0.1:7400\n127.0.0.1:7400\n", &["--process", "0"]);
    assert!(e.contains("line 2: `127.0.0.1:7400` is listed twice"), "{e}");
    let e = refused("127.0.0.1:7400\n127.0.0.1:7401\n", &["--process", "2"]);
    assert!(e.contains("it lists 2 processes; there is no process 2"), "{e}");
    let e = refused("127.0.0.1:7400\n127.0.0.1:7401\n", &["--process", "0", "--processes", "3"]);
    assert!(e.contains("--processes 3, but the hosts file"), "{e}");
    // Restarting a cluster needs checkpoints: without them its output would be written again.
    let out = Command::new(weir_bin())
        .args(["cluster", "run", "job.toml", "--processes", "2", "--restarts", "3"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--restarts: job `cluster-wordcount` has no [checkpoint]"), "{}", stderr(&out));
}

#[test]
fn the_launcher_fails_naming_the_process_that_died() {
    let dir = tempfile::tempdir().unwrap();
    word_count(dir.path(), 3);
    // Process 0 cannot open its sink (a path under a file), so it fails at start.
    std::fs::write(dir.path().join("no"), "a file").unwrap();
    let spec = std::fs::read_to_string(dir.path().join("job.toml")).unwrap();
    std::fs::write(
        dir.path().join("job.toml"),
        spec.replace("path = \"out.jsonl\"", "path = \"no/such/dir/out.jsonl\""),
    )
    .unwrap();
    let out = Command::new(weir_bin())
        .args(["cluster", "run", "job.toml", "--processes", "2"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("[process 0] error:"), "{e}");
    assert!(e.contains("weir cluster: process 0 failed"), "{e}");
}

#[test]
fn a_process_killed_while_the_job_runs_is_named_by_the_others() {
    let dir = tempfile::tempdir().unwrap();
    word_count(dir.path(), 200);
    let spec = std::fs::read_to_string(dir.path().join("job.toml")).unwrap();
    std::fs::write(
        dir.path().join("job.toml"),
        spec.replace("path = \"input.jsonl\"", "path = \"input.jsonl\"\npace = \"50ms\""),
    )
    .unwrap();
    let launcher = Command::new(weir_bin())
        .args(["cluster", "run", "job.toml", "--processes", "2"])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let launcher = Killed(launcher);
    // Process 1, once it has joined and batches flow.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let written = || std::fs::read_to_string(dir.path().join("out.jsonl")).map_or(0, |t| t.lines().count());
    while written() < 3 {
        assert!(std::time::Instant::now() < until, "the cluster wrote no batch");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let ps =
        Command::new("pgrep").args(["-P", &launcher.0.id().to_string(), "-f", "--", "--process 1 "]).output().unwrap();
    let follower = String::from_utf8_lossy(&ps.stdout).lines().next().expect("process 1 runs").trim().to_string();
    assert!(Command::new("kill").args(["-KILL", &follower]).status().unwrap().success());
    let (status, err) = finish(launcher);
    assert!(!status.success());
    assert!(err.contains("[process 0] error: process 0: lost process 1 at 127.0.0.1:"), "{err}");
    assert!(err.contains("with [checkpoint] the job resumes"), "{err}");
    // Timely's own panics are not shown: the one line above says it.
    assert!(!err.contains("panicked") && !err.contains("Send thread panic"), "{err}");
    assert!(err.contains("weir cluster: process 1 failed (signal: 9"), "{err}");
}
