//! The real `operators/tokenize` component splits exactly as `str::split_whitespace` does, on lines of
//! every length from 0 to 200 bytes: the guest reads lines 16 bytes at a time with Wasm SIMD where it
//! can and shifts the mask of a line's last 16 bytes for its tail, so each length takes its own mix of
//! whole pieces, tail and byte-wise path. Half the lines also hold non-ASCII letters, which the same
//! masks split (a line with only ASCII whitespace never takes the character-by-character path), with
//! bytes a careless mask would take for whitespace. Runs in Wasm, where the native unit tests cannot
//! reach.

use std::time::Duration;

use weir::operator::wasm::{Limits, PluginEngine, PluginInstance};
use weir_sdk::packed::{Batch, ValueRef};

/// Line `n` of `len` bytes: words of 1 to 9 letters between runs of every ASCII whitespace byte Rust
/// knows (space, `\t`, `\n`, `\x0b`, `\x0c`, `\r`), with a neighbour of each (`\x08`, `\x0e`, `!`) that
/// is not whitespace, from a seeded sequence. When `wide`, some letters are non-ASCII, among them ones
/// whose bytes, taken alone, end in a whitespace byte's low bits (`Š` is `C5 A0`, `ら` is `E3 82 89`),
/// and the line is cut back to a character boundary.
fn line(n: usize, len: usize, wide: bool) -> String {
    const SPACES: &[u8] = b" \t\n\x0b\x0c\r";
    const NEAR: &[u8] = b"\x08\x0e!\x1f";
    const WIDE: &[&str] = &["é", "Š", "č", "ɉ", "日", "ら", "ア", "“", "…", "\u{1f600}"];
    let mut seed = (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut next = |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % m) as usize
    };
    let mut s = Vec::with_capacity(len);
    while s.len() < len {
        match next(8) {
            0..=1 => s.extend((0..=next(3)).map(|_| SPACES[next(SPACES.len() as u64)])),
            2 => s.push(NEAR[next(NEAR.len() as u64)]),
            _ => {
                for i in 0..=next(9) {
                    match (wide, next(3)) {
                        (true, 0) => s.extend_from_slice(WIDE[next(WIDE.len() as u64)].as_bytes()),
                        _ => s.push(b'a' + ((n + i) % 26) as u8),
                    }
                }
            }
        }
    }
    let mut s = String::from_utf8(s).expect("UTF-8");
    let mut end = len.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

#[test]
fn the_wasm_tokenizer_splits_lines_of_every_length_as_split_whitespace_does() {
    let engine = PluginEngine::new().unwrap();
    let plugin = engine.load(&weir_tests::plugin("tokenize")).unwrap();
    let limits = Limits { deadline: Duration::from_secs(10), memory: 64 << 20 };
    let mut inst = PluginInstance::new(&plugin, limits, "tokenizer-test", "words").unwrap();
    inst.init(&Default::default()).unwrap();
    let mut lines: Vec<String> =
        (0..=200).flat_map(|len| (0..8).map(move |n| line(n * 1000 + len, len, n % 2 == 1))).collect();
    // Whitespace at both ends and in the middle of a 16-byte piece, and lines of whitespace only.
    lines.extend(["a".repeat(15), " ".repeat(16), format!("{} x", "y".repeat(14)), format!("x{}", " ".repeat(31))]);
    lines.push("caf\u{e9} \u{3000}na\u{ef}ve\u{a0}word".into());
    let mut input = Batch::new();
    for l in &lines {
        input.push(None, ValueRef::Text(l), 1000);
    }
    let (result, _) = inst.process(1000, input);
    let out = result.expect("the tokenizer runs");
    let got: Vec<String> = out
        .records
        .iter()
        .map(|r| match r.value {
            ValueRef::Text(s) => s.to_string(),
            other => panic!("a word that is not text: {other:?}"),
        })
        .collect();
    let want: Vec<String> = lines.iter().flat_map(|l| l.split_whitespace().map(str::to_string)).collect();
    assert!(want.len() > 5_000, "the lines hold words: {}", want.len());
    if got != want {
        let at = got.iter().zip(&want).position(|(g, w)| g != w).unwrap_or(got.len().min(want.len()));
        panic!("word {at} differs: got {:?}, want {:?}", got.get(at), want.get(at));
    }
}
