//! Pieces of job specs that many tests share: the word count's streams. Each returns TOML tables to
//! paste into a spec, so a test still reads as the spec it runs.

use std::path::Path;

/// `[streams.words]` and `[streams.pairs]`: the lines of `from` split into words, by the `tokenize`
/// component at `plugin` or by the built-in tokenizer when `None`, and paired as `(word, 1)`.
///
/// ```
/// let toml = weir_tests::spec::word_pairs("lines", None);
/// assert!(toml.contains("op = \"tokenize\"\nfrom = \"lines\""));
/// assert!(toml.contains("[streams.pairs]\nop = \"map_to_pair\"\nfrom = \"words\""));
/// ```
pub fn word_pairs(from: &str, plugin: Option<&Path>) -> String {
    let words = match plugin {
        Some(p) => format!("op = \"wasm\"\nfrom = \"{from}\"\nplugin = \"{}\"", p.display()),
        None => format!("op = \"tokenize\"\nfrom = \"{from}\""),
    };
    format!("\n[streams.words]\n{words}\n\n[streams.pairs]\nop = \"map_to_pair\"\nfrom = \"words\"\n")
}

/// `[streams.NAME]`: every word's running count over `pairs`, as `update_state_by_key` with `sum`;
/// `extra` adds fields (e.g. `initial_state = "init.jsonl"`).
///
/// ```
/// let toml = weir_tests::spec::running_counts("counts", "");
/// assert!(toml.contains("[streams.counts]\nop = \"update_state_by_key\"\nfrom = \"pairs\"\nupdater = \"sum\""));
/// ```
pub fn running_counts(name: &str, extra: &str) -> String {
    format!("\n[streams.{name}]\nop = \"update_state_by_key\"\nfrom = \"pairs\"\nupdater = \"sum\"\n{extra}\n")
}
