//! `running-total`: an `update_state_by_key` updater keeping each key's running total. A total that comes
//! back to zero removes the key (Spark's updater returning `None`).

/// The new total of a key: its old total plus this batch's values; zero forgets the key.
#[weir::update_state]
pub fn running_total(values: Vec<i64>, total: Option<i64>) -> Option<i64> {
    let total = total.unwrap_or(0) + values.iter().sum::<i64>();
    (total != 0).then_some(total)
}

#[cfg(test)]
mod tests {
    #[test]
    fn zero_removes_the_key() {
        assert_eq!(super::running_total(vec![2, 3], Some(1)), Some(6));
        assert_eq!(super::running_total(vec![], Some(4)), Some(4));
        assert_eq!(super::running_total(vec![-4], Some(4)), None);
    }
}
