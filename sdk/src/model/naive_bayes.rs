//! Multinomial naive Bayes with Laplace smoothing, as scikit-learn's `MultinomialNB(alpha=1.0)` over
//! term counts: a class's score for a text is its log prior plus, for each known term, the term's
//! count times its smoothed log probability in that class. Terms the training never saw are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::terms;

/// A trained classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NaiveBayes {
    /// The class labels, sorted.
    pub classes: Vec<String>,
    /// Per class: log of its share of the training texts.
    pub class_log_prior: Vec<f64>,
    /// Term → its column.
    pub vocabulary: BTreeMap<String, usize>,
    /// Per class, per column: `log((count + alpha) / (class total + alpha × terms))`.
    pub feature_log_prob: Vec<Vec<f64>>,
    /// The smoothing added to every count.
    pub alpha: f64,
}

impl NaiveBayes {
    /// Trains on `(label, text)` pairs with smoothing `alpha` (1.0: Laplace).
    ///
    /// ```
    /// use weir_sdk::model::NaiveBayes;
    /// let docs = [("pos", "good great fun"), ("neg", "bad awful boring"), ("pos", "great fun")];
    /// let m = NaiveBayes::train(docs.iter().map(|(l, t)| (l.to_string(), t.to_string())), 1.0).unwrap();
    /// assert_eq!(m.classes, ["neg", "pos"]);
    /// assert_eq!(m.predict("so much fun").0, "pos");
    /// assert_eq!(m.predict("boring").0, "neg");
    /// ```
    pub fn train(docs: impl IntoIterator<Item = (String, String)>, alpha: f64) -> Result<NaiveBayes, String> {
        if !(alpha > 0.0 && alpha.is_finite()) {
            return Err(format!("alpha must be above 0, not {alpha}"));
        }
        let mut per_class: BTreeMap<String, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
        let mut vocabulary = BTreeMap::new();
        for (label, text) in docs {
            let (docs, counts) = per_class.entry(label).or_default();
            *docs += 1;
            for term in terms(&text) {
                vocabulary.entry(term.clone()).or_insert(0);
                *counts.entry(term).or_default() += 1;
            }
        }
        if per_class.len() < 2 {
            return Err(format!("training needs texts of at least 2 labels, not {}", per_class.len()));
        }
        // Columns in term order, as a vectorizer numbers them.
        vocabulary.values_mut().enumerate().for_each(|(i, v)| *v = i);
        let total_docs: u64 = per_class.values().map(|(d, _)| d).sum();
        let (mut classes, mut class_log_prior, mut feature_log_prob) = (Vec::new(), Vec::new(), Vec::new());
        for (label, (docs, counts)) in per_class {
            let mut row = vec![alpha; vocabulary.len()];
            for (term, n) in &counts {
                row[vocabulary[term]] += *n as f64;
            }
            let total: f64 = row.iter().sum();
            feature_log_prob.push(row.iter().map(|c| c.ln() - total.ln()).collect());
            class_log_prior.push((docs as f64).ln() - (total_docs as f64).ln());
            classes.push(label);
        }
        Ok(NaiveBayes { classes, class_log_prior, vocabulary, feature_log_prob, alpha })
    }

    /// Each class's log score for `text` (scikit-learn's joint log likelihood).
    pub fn scores(&self, text: &str) -> Vec<f64> {
        let mut scores = self.class_log_prior.clone();
        for column in terms(text).filter_map(|t| self.vocabulary.get(&t).copied()) {
            scores.iter_mut().zip(&self.feature_log_prob).for_each(|(s, row)| *s += row[column]);
        }
        scores
    }

    /// The most likely label of `text` (the first, on a tie) and its probability.
    pub fn predict(&self, text: &str) -> (&str, f64) {
        let scores = self.scores(text);
        let best = (0..scores.len()).fold(0, |b, i| if scores[i] > scores[b] { i } else { b });
        // Softmax of the best score, taken relative to it so nothing overflows.
        let sum: f64 = scores.iter().map(|s| (s - scores[best]).exp()).sum();
        (&self.classes[best], 1.0 / sum)
    }
}
