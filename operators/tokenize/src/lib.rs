//! `tokenize`: splits each line of text into words (on Unicode whitespace), one text record per word.
//!
//! Words borrow from the input batch, so the guest allocates nothing per word; `weir::text::words` splits
//! exactly as `str::split_whitespace` does, with a fast path for ASCII.

use weir::Record;

/// Splits a line into words.
#[weir::flat_map]
pub fn tokenize<'a>(line: &'a Record<'_>) -> impl Iterator<Item = Record<'a>> {
    weir::text::words(line.as_text().unwrap_or_default()).map(Record::text)
}

#[cfg(test)]
mod tests {
    use super::Tokenize;
    use weir::testing::Harness;

    #[test]
    fn splits_on_any_whitespace_and_keeps_order() {
        let out = Harness::<Tokenize>::new().run_texts(&["the quick  brown", "\tfox\n", ""]).unwrap();
        assert_eq!(out.texts(), vec!["the", "quick", "brown", "fox"]);
        assert!(out.rejected.is_empty());
    }

    #[test]
    fn words_keep_the_line_event_time() {
        let out = Harness::<Tokenize>::new().run_texts(&["a b"]).unwrap();
        assert!(out.records.iter().all(|r| r.time == 1000));
    }

    #[test]
    fn output_is_sized_once_from_the_first_lines_not_regrown() {
        use weir::Operator;
        use weir::packed::{Batch, ValueRef};
        let mut input = Batch::new();
        (0..10_000).for_each(|_| input.push(None, ValueRef::Text("a bb ccc dddd e f g h i j"), 1));
        let mut out = weir::Output::default();
        Tokenize::process(&input, &mut out);
        let r = &out.records;
        assert_eq!(r.len(), 100_000);
        // Room for the rest plus an eighth; regrowing by doubling would leave up to twice the room.
        assert!(r.kinds.capacity() <= r.len() * 9 / 8 + 1024, "{} records of room", r.kinds.capacity());
        assert!(r.values.capacity() <= r.values.len() * 9 / 8 + 2048, "{} bytes of room", r.values.capacity());
    }

    #[test]
    fn non_text_values_yield_no_words() {
        let out = Harness::<Tokenize>::new().run(&[weir::Record::i64(5)]).unwrap();
        assert!(out.records.is_empty());
    }
}
