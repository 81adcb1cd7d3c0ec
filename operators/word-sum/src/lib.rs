//! `word-sum`: a reducer that adds integers, with subtraction as its inverse, so a sliding window can be
//! kept up to date incrementally (Spark's `reduceByKeyAndWindow(_ + _, _ - _, ...)`). A sum that would
//! overflow refuses the key's values instead of wrapping.

/// Adds two counts.
#[weir::reduce(inverse = subtract)]
pub fn add(a: i64, b: i64) -> Result<i64, String> {
    a.checked_add(b).ok_or_else(|| format!("{a} + {b} overflows"))
}

/// Takes a count that left the window out of the running count.
pub fn subtract(running: i64, gone: i64) -> i64 {
    running - gone
}

#[cfg(test)]
mod tests {
    use super::Add;
    use weir::{Groups, Output, Record, Reducer};

    #[test]
    fn adds_per_key_and_subtracts_with_the_inverse() {
        let g = Groups::from_pairs(&[("a", vec![Record::i64(2), Record::i64(3)]), ("b", vec![Record::i64(1)])]);
        let mut out = Output::default();
        Add::combine(&g, &mut out);
        let sums: Vec<i64> =
            (0..out.records.len()).map(|i| Record::from_ref(out.records.get(i)).as_i64().unwrap()).collect();
        assert_eq!(sums, vec![5, 1]);
        let mut back = Output::default();
        Add::inverse(&Groups::from_pairs(&[("a", vec![Record::i64(5), Record::i64(2)])]), &mut back);
        assert_eq!(Record::from_ref(back.records.get(0)).as_i64(), Some(3));
    }
}
