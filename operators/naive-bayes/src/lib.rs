//! `naive-bayes`: labels each text record with a multinomial naive-Bayes model trained offline
//! (`weir model train naive-bayes`): the output record is keyed by the label, its value the label's
//! probability. The model is the stream's `model` file, which the host hands over as the `model`
//! parameter; a text no known term appears in gets the most common label.

use std::cell::RefCell;

use weir::Record;
use weir::model::NaiveBayes;

thread_local! {
    // One instance per worker thread; loaded once, at `init`.
    static MODEL: RefCell<Option<NaiveBayes>> = const { RefCell::new(None) };
}

/// The label of `r`'s text and its probability.
#[weir::map(params = ["model"], init = load)]
pub fn classify(r: Record<'_>) -> Result<Record<'static>, String> {
    let text = r.as_text().ok_or("expected a text record")?;
    MODEL.with_borrow(|m| {
        let model = m.as_ref().ok_or("no model loaded")?;
        let (label, probability) = model.predict(text);
        Ok(Record::f64(probability).with_key(label.to_string()))
    })
}

fn load() -> Result<(), String> {
    let text = weir::param("model").ok_or("no model: give the stream a `model` file (a `weir model train` output)")?;
    let model = weir::model::from_json::<NaiveBayes>("naive-bayes", &text)?;
    MODEL.with_borrow_mut(|m| *m = Some(model));
    Ok(())
}

#[cfg(test)]
mod tests {
    use weir::model::NaiveBayes;
    use weir::testing::Harness;

    use super::Classify;

    #[test]
    fn labels_each_text_with_the_model_it_was_given() {
        let docs = [("pos", "good great fun"), ("neg", "bad awful boring"), ("pos", "great")];
        let model = NaiveBayes::train(docs.iter().map(|(l, t)| (l.to_string(), t.to_string())), 1.0).unwrap();
        let json = serde_json::to_string(&model).unwrap();
        let out = Harness::<Classify>::new().param("model", &json).run_texts(&["What fun!", "awful"]).unwrap();
        let labels: Vec<_> = out.records.iter().map(|r| r.key_text().unwrap().to_string()).collect();
        assert_eq!(labels, ["pos", "neg"]);
        let err = Harness::<Classify>::new().run_texts(&["x"]).unwrap_err();
        assert!(err.contains("no model"), "{err}");
    }
}
