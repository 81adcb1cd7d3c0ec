//! `weir model train naive-bayes|kmeans`: trains a model offline into a JSON file, which a job applies
//! online with the `naive-bayes` or `kmeans` operator (a `wasm` stream with `model = "model.json"`). The
//! training is the SDK's own (`weir_sdk::model`), the code the operators predict with.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use weir_sdk::model::{KMeans, NaiveBayes};

/// Commands on models.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Train a model into a JSON file.
    Train {
        #[command(subcommand)]
        kind: TrainCommand,
    },
}

/// The models `weir model train` makes.
#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// A multinomial naive-Bayes text classifier (Laplace smoothing) from `label<TAB>text` lines.
    NaiveBayes {
        /// The labelled texts: one `label<TAB>text` a line.
        #[arg(long)]
        input: PathBuf,
        /// Where the model goes (JSON).
        #[arg(long)]
        output: PathBuf,
        /// Smoothing added to every term count.
        #[arg(long, default_value_t = 1.0)]
        alpha: f64,
    },
    /// k-means clusters (a seeded k-means++ start, then Lloyd's iterations) from comma-separated vectors.
    Kmeans {
        /// The vectors: comma-separated numbers, one vector a line, all of one length.
        #[arg(long)]
        input: PathBuf,
        /// Where the model goes (JSON).
        #[arg(long)]
        output: PathBuf,
        /// How many clusters.
        #[arg(short, long)]
        k: usize,
        /// The seed of the k-means++ start.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

/// Runs a model command.
pub fn run(command: ModelCommand) -> ExitCode {
    let ModelCommand::Train { kind } = command;
    match train(kind) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn write(path: &Path, model: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string(model)?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Trains the model `kind` asks for and writes it; what it made, in one line.
fn train(kind: TrainCommand) -> anyhow::Result<String> {
    match kind {
        TrainCommand::NaiveBayes { input, output, alpha } => {
            let text = read(&input)?;
            let mut docs = Vec::new();
            for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let (label, body) = line.split_once('\t').with_context(|| {
                    format!("{}:{}: expected `label<TAB>text`, found {line:?}", input.display(), n + 1)
                })?;
                docs.push((label.trim().to_string(), body.to_string()));
            }
            let n = docs.len();
            let model = NaiveBayes::train(docs, alpha).map_err(anyhow::Error::msg)?;
            write(&output, &model)?;
            let (classes, terms) = (model.classes.join(", "), model.vocabulary.len());
            Ok(format!("naive-bayes: {n} texts, labels {classes}, {terms} terms → {}", output.display()))
        }
        TrainCommand::Kmeans { input, output, k, seed } => {
            let text = read(&input)?;
            let mut points = Vec::new();
            for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let point: Result<Vec<f64>, _> = line.split(',').map(|f| f.trim().parse::<f64>()).collect();
                points.push(
                    point.with_context(|| format!("{}:{}: not comma-separated numbers", input.display(), n + 1))?,
                );
            }
            let model = KMeans::train(&points, k, seed).map_err(anyhow::Error::msg)?;
            write(&output, &model)?;
            let n = points.len();
            Ok(format!("kmeans: {n} vectors, k = {k}, {} iterations → {}", model.iterations, output.display()))
        }
    }
}
