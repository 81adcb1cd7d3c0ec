//! Models trained offline and applied online: a multinomial naive-Bayes text classifier and k-means
//! clustering. The same code trains them (`weir model train`, on the host) and applies them (the
//! `naive-bayes` and `kmeans` operators, in a component), so a model predicts in a job exactly what it
//! predicted when it was trained. A model travels as JSON: the host reads the file a stream names in
//! its `model` field and hands the text to the plugin as its `model` parameter at `init`.

pub mod kmeans;
pub mod naive_bayes;

pub use kmeans::KMeans;
pub use naive_bayes::NaiveBayes;

/// The terms of `text` a text model counts: maximal runs of alphanumeric characters, lowercased
/// (Python: `re.findall(r"[^\W_]+", text.lower())` for ASCII text).
///
/// ```
/// let t: Vec<String> = weir_sdk::model::terms("Loved it -- 10/10, would WATCH again!").collect();
/// assert_eq!(t, ["loved", "it", "10", "10", "would", "watch", "again"]);
/// ```
pub fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase)
}

/// A model read from its JSON text, naming what is wrong when it cannot be.
pub fn from_json<M: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<M, String> {
    serde_json::from_str(text).map_err(|e| format!("the {what} model is not readable: {e}"))
}
