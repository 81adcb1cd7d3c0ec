//! `http-sink`: posts each batch as one JSON document `{"time", "records"}` to `url`, with the header
//! `Idempotency-Key: <key_prefix><batch time>`. A batch written again after a crash goes out with the
//! same key and the same records, so a receiver that keeps one body per key holds each batch once:
//! idempotent by batch time. It reaches `url` only if the job grants its host (`grants.http`).
//!
//! Parameters: `url` (required), `key_prefix` (default none).

use weir::Record;
use weir::http::Request;

/// Posts the batch at `time`.
#[weir::sink(params = ["url", "key_prefix"], init = check)]
pub fn post(time: i64, records: Vec<Record<'_>>) -> Result<(), String> {
    let url = weir::param("url").ok_or("parameter `url` is required")?;
    let key = format!("{}{time}", weir::param("key_prefix").unwrap_or_default());
    let body = serde_json::json!({"time": time, "records": records.iter().map(json_of).collect::<Vec<_>>()});
    let req = Request::post(&url)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", &key)
        .body(body.to_string().into_bytes());
    let resp = weir::http::send(req).map_err(|e| format!("POST {url}: {e}"))?;
    match resp.status {
        200..=299 => Ok(()),
        s => Err(format!("{url} answered {s}: {}", String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)]))),
    }
}

fn check() -> Result<(), String> {
    weir::param("url").map(|_| ()).ok_or_else(|| "parameter `url` is required".into())
}

/// A record as the `jsonl` sink writes it: `{"key", "value"}`, JSON values inline.
fn json_of(r: &Record<'_>) -> serde_json::Value {
    let value = match &r.value {
        weir::Value::Text(t) => serde_json::Value::from(t.as_ref()),
        weir::Value::I64(v) => serde_json::Value::from(*v),
        weir::Value::F64(v) => serde_json::Value::from(*v),
        weir::Value::Json(j) => serde_json::from_str(j).unwrap_or_else(|_| serde_json::Value::from(j.as_ref())),
        weir::Value::Bytes(b) => serde_json::Value::from(String::from_utf8_lossy(b).as_ref()),
    };
    let key = r.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned());
    serde_json::json!({"key": key, "value": value})
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use weir::Record;
    use weir::http::Response;
    use weir::testing::SinkHarness;

    use super::Post;

    #[test]
    fn a_batch_written_twice_goes_out_twice_the_same_keyed_by_its_time() {
        let h = SinkHarness::<Post>::new()
            .param("url", "http://127.0.0.1:9/hook")
            .param("key_prefix", "job-")
            .grant_http(&["127.0.0.1:9"])
            .on_http(|_| Ok(Response { status: 204, ..Response::default() }))
            .open()
            .unwrap();
        let batch = [Record::i64(3).with_key("u1"), Record::text("x")];
        h.write(2000, &batch).unwrap();
        h.write(2000, &batch).unwrap();
        let sent = h.requests();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0], sent[1], "same key, same body");
        assert!(sent[0].headers.contains(&("Idempotency-Key".into(), "job-2000".into())));
        let body: serde_json::Value = serde_json::from_slice(&sent[0].body).unwrap();
        assert_eq!(body["records"][0], serde_json::json!({"key": "u1", "value": 3}));
    }

    #[test]
    fn a_host_the_job_does_not_grant_is_denied() {
        let called = Rc::new(RefCell::new(0));
        let c = called.clone();
        let h = SinkHarness::<Post>::new()
            .param("url", "http://10.0.0.1/hook")
            .grant_http(&["127.0.0.1:9"])
            .on_http(move |_| {
                *c.borrow_mut() += 1;
                Ok(Response::default())
            })
            .open()
            .unwrap();
        let err = h.write(1000, &[Record::text("x")]).unwrap_err();
        assert!(err.contains("denied") && err.contains("10.0.0.1:80"), "{err}");
        assert_eq!(*called.borrow(), 0);
    }

    #[test]
    fn an_error_answer_fails_the_write_naming_it() {
        let h = SinkHarness::<Post>::new()
            .param("url", "http://127.0.0.1:9/")
            .grant_http(&["127.0.0.1"])
            .on_http(|_| Ok(Response { status: 500, body: b"full".to_vec(), ..Response::default() }))
            .open()
            .unwrap();
        let err = h.write(1000, &[]).unwrap_err();
        assert!(err.contains("answered 500: full"), "{err}");
        let err = SinkHarness::<Post>::new().open().err().unwrap();
        assert_eq!(err, "parameter `url` is required");
    }
}
