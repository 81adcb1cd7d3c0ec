//! `kmeans`: assigns each vector to its nearest cluster of a k-means model trained offline (`weir model
//! train kmeans`): the output record is keyed by the cluster's number, its value the distance to the
//! cluster's centroid. A vector is a text record of comma-separated numbers or a JSON array of them.
//! The model is the stream's `model` file, which the host hands over as the `model` parameter.

use std::cell::RefCell;

use weir::model::KMeans;
use weir::{Record, Value};

thread_local! {
    // One instance per worker thread; loaded once, at `init`.
    static MODEL: RefCell<Option<KMeans>> = const { RefCell::new(None) };
}

/// The cluster of `r`'s vector and the distance to its centroid.
#[weir::map(params = ["model"], init = load)]
pub fn assign(r: Record<'_>) -> Result<Record<'static>, String> {
    let point = vector(&r.value)?;
    MODEL.with_borrow(|m| {
        let model = m.as_ref().ok_or("no model loaded")?;
        let dim = model.centroids[0].len();
        if point.len() != dim {
            return Err(format!("a vector of {} values; the model's have {dim}", point.len()));
        }
        let (cluster, distance) = model.assign(&point);
        Ok(Record::f64(distance).with_key(cluster.to_string()))
    })
}

/// The numbers of a CSV line or a JSON array.
fn vector(value: &Value<'_>) -> Result<Vec<f64>, String> {
    match value {
        Value::Text(t) => t
            .split(',')
            .map(|f| f.trim().parse::<f64>().map_err(|_| format!("`{}` is not a number", f.trim())))
            .collect(),
        Value::Json(j) => serde_json::from_str(j).map_err(|e| format!("not an array of numbers: {e}")),
        _ => Err("expected comma-separated numbers or a JSON array".into()),
    }
}

fn load() -> Result<(), String> {
    let text = weir::param("model").ok_or("no model: give the stream a `model` file (a `weir model train` output)")?;
    let model = weir::model::from_json::<KMeans>("kmeans", &text)?;
    if model.centroids.is_empty() || model.centroids[0].is_empty() {
        return Err("the kmeans model has no centroids".into());
    }
    MODEL.with_borrow_mut(|m| *m = Some(model));
    Ok(())
}

#[cfg(test)]
mod tests {
    use weir::model::KMeans;
    use weir::testing::Harness;

    use super::Assign;

    #[test]
    fn assigns_each_vector_to_its_nearest_centroid() {
        let points = vec![vec![0.0, 0.0], vec![0.2, 0.0], vec![9.0, 9.0], vec![9.2, 9.0]];
        let model = serde_json::to_string(&KMeans::train(&points, 2, 1).unwrap()).unwrap();
        let out = Harness::<Assign>::new().param("model", &model).run_texts(&["0.1, 0", "9.1,9", "1,x"]).unwrap();
        assert_eq!(out.records.len(), 2);
        assert_ne!(out.records[0].key_text(), out.records[1].key_text());
        assert_eq!(out.rejected, [(2, "`x` is not a number".to_string())]);
    }
}
