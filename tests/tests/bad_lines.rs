//! Text lines that cannot become records — not UTF-8, longer than `max_record_bytes` — go to the dead
//! letters at the source with their bytes, from a directory or a socket, and the lines around them go on.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use weir_tests::crash::{drain, setup, stderr, totals, weir};
use weir_tests::read_jsonl;

/// A word count reading `in/` (manual clock) or a socket, writing dead letters to `dead.jsonl`.
fn text_job(source: &str, tokenizer: &str) -> String {
    format!(
        r#"
[job]
name = "text"
batch_interval = "100ms"
{clock}

[sources.lines]
{source}
max_record_bytes = "1KiB"

[streams.words]
{tokenizer}
from = "lines"

[streams.pairs]
op = "map_to_pair"
from = "words"

[streams.counts]
op = "reduce_by_key"
from = "pairs"
reducer = "sum"

[sinks.out]
kind = "jsonl"
from = "counts"
path = "counts.jsonl"

[dead_letter]
path = "dead.jsonl"
"#,
        clock = if source.contains("directory") { "clock = \"manual\"" } else { "" },
    )
}

fn check_refused_lines(dir: &Path) {
    assert_eq!(totals(&dir.join("counts.jsonl")), [("good".to_string(), 3)].into(), "the good lines, each once");
    let dead = read_jsonl(&dir.join("dead.jsonl"));
    assert_eq!(dead.len(), 2, "{dead:?}");
    let by_reason = |needle: &str| dead.iter().find(|d| d["reason"].as_str().unwrap().contains(needle)).cloned();
    let utf8 = by_reason("not UTF-8").expect("the invalid line is dead-lettered");
    assert_eq!(utf8["input"], "caf\\xe9 cr\\xe8me", "raw bytes, escaped");
    assert_eq!(utf8["operator"], "lines");
    let long = by_reason("longer than max_record_bytes").expect("the long line is dead-lettered");
    assert!(long["reason"].as_str().unwrap().contains("a line of 3000 bytes"), "{long}");
    assert_eq!(long["input"].as_str().unwrap().len(), 256, "its first bytes");
}

#[test]
fn lines_that_are_not_utf8_or_too_long_go_to_the_dead_letters_with_their_bytes() {
    let lines: Vec<u8> = [&b"good\ncaf\xe9 cr\xe8me\ngood\n"[..], &b"x".repeat(3000), b"\ngood\n"].concat();
    for tokenizer in
        ["op = \"tokenize\"", &format!("op = \"wasm\"\nplugin = \"{}\"", weir_tests::plugin("tokenize").display())]
    {
        let dir = setup(&text_job("kind = \"directory\"\npath = \"in\"\ninclude_existing = true", tokenizer));
        std::fs::create_dir(dir.path().join("in")).unwrap();
        std::fs::write(dir.path().join("in/a.txt"), &lines).unwrap();
        let out = weir(dir.path(), &[]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        check_refused_lines(dir.path());
    }
    // The same over a socket.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = setup(&text_job(&format!("kind = \"socket\"\nport = {port}"), "op = \"tokenize\""));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    std::io::Write::write_all(&mut peer, &lines).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let out = drain(child);
    assert!(out.status.success(), "{}", stderr(&out));
    check_refused_lines(dir.path());
}
