//! Plugin authoring as Fluvio's `smdk` does it: `weir op new NAME --kind KIND` scaffolds a crate for each
//! of the ten kinds that passes its own test and builds into a component at once, and `weir op test`
//! runs each component on sample input and prints its output, for every world.

use std::path::Path;
use std::process::Command;

use weir_tests::served::text;
use weir_tests::weir_bin;

/// (kind, `op test` arguments, lines the output must hold).
const KINDS: &[(&str, &[&str], &[&str])] = &[
    ("map", &["--text", "hello"], &["\"HELLO\""]),
    ("flat-map", &["--text", "to be"], &["\"to\"", "\"be\""]),
    ("filter", &["--text", "a", "--text", " "], &["\"a\""]),
    ("filter-map", &["--text", "12", "--text", "x"], &["12", "refused line 2 (\"x\"): `x` is not a number"]),
    ("batch", &["--text", "b", "--text", "a"], &["\"a\"", "\"b\""]),
    (
        "reduce",
        &["--text", "a 1", "--text", "a 2", "--text", "b 5"],
        &[r#"{"key":"a","value":3}"#, r#"{"key":"b","value":5}"#],
    ),
    ("update-state", &["--text", "a 1", "--text", "a 2"], &[r#"{"state":{"key":"a","value":3}}"#]),
    (
        "map-with-state",
        &["--text", "a 4"],
        &[r#"{"state":{"key":"a","value":4}}"#, r#"{"emitted":{"key":"a","value":4}}"#],
    ),
    ("source", &["-p", "limit=2"], &["\"event 0\"", "\"event 1\"", r#"{"finished":true,"offset":"2"}"#]),
    ("sink", &["--text", "a", "--text", "b"], &["wrote 2 records at batch time 1000"]),
];

fn weir(dir: &Path, target: &Path, args: &[&str]) -> String {
    let out = Command::new(weir_bin()).args(args).current_dir(dir).env("CARGO_TARGET_DIR", target).output().unwrap();
    assert!(out.status.success(), "weir {args:?}: {}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn every_kind_scaffolds_a_crate_that_tests_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    // One target folder for all ten crates: the SDK compiles once natively and once for Wasm.
    let target = dir.path().join("target");
    for (kind, test_args, expected) in KINDS {
        let name = format!("my-{kind}");
        let made = weir(dir.path(), &target, &["op", "new", &name, "--kind", kind]);
        assert!(made.contains(&format!("created ./{name}")), "{made}");
        let crate_dir = dir.path().join(&name);
        let tested = Command::new("cargo")
            .args(["test", "--quiet"])
            .current_dir(&crate_dir)
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap();
        assert!(tested.status.success(), "{kind}: cargo test: {}{}", text(&tested.stdout), text(&tested.stderr));
        let built = weir(&crate_dir, &target, &["op", "build", "."]);
        let wasm = built.lines().next().unwrap().to_string();
        assert!(wasm.ends_with(&format!("{}.wasm", name.replace('-', "_"))), "{built}");
        let mut args = vec!["op", "test", wasm.as_str()];
        args.extend_from_slice(test_args);
        let printed = weir(&crate_dir, &target, &args);
        let lines: Vec<&str> = printed.lines().collect();
        for want in *expected {
            assert!(lines.contains(want), "{kind}: {want} missing from\n{printed}");
        }
        println!("{kind}: {}", lines[1..].join(" | "));
    }
    let again = Command::new(weir_bin())
        .args(["op", "new", "my-map", "--kind", "map"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success() && text(&again.stderr).contains("already exists"), "{}", text(&again.stderr));
    let bad = Command::new(weir_bin())
        .args(["op", "new", "Bad Name", "--kind", "map"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(text(&bad.stderr).contains("use lowercase letters"), "{}", text(&bad.stderr));
}
