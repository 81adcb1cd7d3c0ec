//! `tokenize` 0.2.0: splits lines into words as 0.1.0 does, and lowercases them, so `The` and `the`
//! count as one word. The upgrade tests swap it in for 0.1.0 under a running job's state.

use weir::Record;

/// Splits a line into lowercase words.
#[weir::flat_map]
pub fn tokenize<'a>(line: &'a Record<'_>) -> impl Iterator<Item = Record<'a>> {
    weir::text::words(line.as_text().unwrap_or_default()).map(|w| Record::text(w.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::Tokenize;
    use weir::testing::Harness;

    #[test]
    fn splits_and_lowercases() {
        let out = Harness::<Tokenize>::new().run_texts(&["The quick  BROWN", "fox"]).unwrap();
        assert_eq!(out.texts(), vec!["the", "quick", "brown", "fox"]);
    }
}
