//! Runs an operator natively under plain `cargo test`, through the same packed-batch path a component takes.
//!
//! ```
//! use weir_sdk::{Record, testing::Harness};
//! # struct Upper;
//! # impl weir_sdk::Plugin for Upper {
//! #     const NAME: &'static str = "upper"; const VERSION: &'static str = "0";
//! #     const KIND: weir_sdk::TransformKind = weir_sdk::TransformKind::Map;
//! #     const PARAMS: &'static [&'static str] = &[];
//! # }
//! # impl weir_sdk::Operator for Upper {
//! #     fn process(input: &weir_sdk::packed::Batch, out: &mut weir_sdk::Output) {
//! #         for r in input.iter() { let r = Record::from_ref(r); out.push(&Record::text(r.as_text().unwrap().to_uppercase()), r.time) }
//! #     }
//! # }
//! let out = Harness::<Upper>::new().run_texts(&["a", "b"]).unwrap();
//! assert_eq!(out.texts(), vec!["A", "B"]);
//! ```

mod connectors;

use std::marker::PhantomData;

pub use connectors::{HttpHandler, PluginHarness, SinkHarness, SourceHarness};

use crate::operator::{Operator, Output, set_params};
use crate::packed::Batch;
use crate::record::Record;

/// What one batch produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TestOutput {
    /// Records produced, in order.
    pub records: Vec<Record<'static>>,
    /// Refused input records: index and reason.
    pub rejected: Vec<(u32, String)>,
}

impl TestOutput {
    /// The text values of the produced records (non-text values are skipped).
    ///
    /// ```
    /// let out = weir_sdk::testing::TestOutput { records: vec![weir_sdk::Record::text("x")], rejected: vec![] };
    /// assert_eq!(out.texts(), vec!["x"]);
    /// ```
    pub fn texts(&self) -> Vec<&str> {
        self.records.iter().filter_map(|r| r.as_text()).collect()
    }
}

/// A native test harness for operator `O`.
pub struct Harness<O: Operator> {
    params: Vec<(String, String)>,
    time: i64,
    op: PhantomData<O>,
}

impl<O: Operator> Default for Harness<O> {
    fn default() -> Self {
        Harness { params: Vec::new(), time: 1000, op: PhantomData }
    }
}

impl<O: Operator> Harness<O> {
    /// A harness with no parameters; input records get event time 1000.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a job parameter.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.to_string(), value.to_string()));
        self
    }

    /// Runs one batch of records. A fatal error or refused parameters come back as `Err`.
    pub fn run(&self, input: &[Record<'_>]) -> Result<TestOutput, String> {
        set_params::<O>(self.params.clone())?;
        let mut batch = Batch::new();
        for r in input {
            r.push_to(&mut batch);
        }
        let mut out = Output::default();
        O::process(&batch, &mut out);
        if let Some(fatal) = out.fatal {
            return Err(fatal);
        }
        out.records.validate().map_err(|e| e.to_string())?;
        let records = out.records.iter().map(|r| Record::from_ref(r).into_owned()).collect();
        Ok(TestOutput { records, rejected: out.rejected })
    }

    /// Runs one batch of text records without keys, each at the harness's event time.
    pub fn run_texts(&self, lines: &[&str]) -> Result<TestOutput, String> {
        let input: Vec<Record<'_>> = lines.iter().map(|l| Record::text(*l).with_time(self.time)).collect();
        self.run(&input)
    }
}
