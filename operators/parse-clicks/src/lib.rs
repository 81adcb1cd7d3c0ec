//! `parse-clicks`: parses `deviceId|deviceType|time|click` lines into records keyed by device type,
//! with the click count as an integer value and `time` (milliseconds) as the event time.
//! Malformed lines are refused with the reason and go to the job's dead-letter output.

use weir::Record;

/// Parses one click line.
#[weir::map]
pub fn parse_clicks<'a>(r: &'a Record<'_>) -> Result<Record<'a>, String> {
    let line = r.as_text().ok_or("value is not text")?;
    let fields: Vec<&str> = line.split('|').collect();
    let [device_id, device_type, time, click] = fields[..] else {
        return Err(format!("expected 4 fields `deviceId|deviceType|time|click`, found {}", fields.len()));
    };
    if device_id.trim().is_empty() {
        return Err("deviceId is empty".into());
    }
    let device_type = device_type.trim();
    if device_type.is_empty() {
        return Err("deviceType is empty".into());
    }
    let time: i64 = time.trim().parse().map_err(|_| format!("time `{time}` is not an integer"))?;
    let click: i64 = click.trim().parse().map_err(|_| format!("click `{click}` is not an integer"))?;
    Ok(Record::i64(click).with_key(device_type).with_time(time))
}

#[cfg(test)]
mod tests {
    use super::ParseClicks;
    use weir::testing::Harness;

    #[test]
    fn parses_good_lines_and_refuses_bad_ones_with_reasons() {
        let out = Harness::<ParseClicks>::new()
            .run_texts(&["d1|phone|1500|3", "garbage", "d2|tablet|x|1", "d3||1|1", "d4|tv|2000|-2"])
            .unwrap();
        let got: Vec<(Option<&str>, Option<i64>, i64)> =
            out.records.iter().map(|r| (r.key_text(), r.as_i64(), r.time)).collect();
        assert_eq!(got, vec![(Some("phone"), Some(3), 1500), (Some("tv"), Some(-2), 2000)]);
        assert_eq!(
            out.rejected,
            vec![
                (1, "expected 4 fields `deviceId|deviceType|time|click`, found 1".to_string()),
                (2, "time `x` is not an integer".to_string()),
                (3, "deviceType is empty".to_string()),
            ]
        );
    }
}
