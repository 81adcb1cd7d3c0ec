//! The web UI and `/metrics` of `weir run --http` and `weir serve --http`: every job followed through
//! its typed events (no second path out of a job) into its Prometheus metrics and its [`view::JobView`],
//! whose changes reach open pages as server-sent events.

pub mod graph;
pub mod http;
mod pages;
pub mod view;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::event::Events;
use crate::graph::plan::Plan;
use crate::graph::spec::SinkSpec;
use crate::metrics::Metrics;

/// A view's change, for the pages of its job.
#[derive(Debug, Clone)]
pub struct Update {
    /// The job.
    pub job: Arc<str>,
    /// The server-sent event's name.
    pub name: &'static str,
    /// Its data, JSON.
    pub data: Arc<str>,
}

/// A followed job: its view and what the pages need of its plan.
struct Followed {
    view: Arc<Mutex<view::JobView>>,
    graph: String,
    /// Streams with a big screen.
    screens: Vec<String>,
    streams: Vec<String>,
}

/// Every followed job's metrics and view.
pub struct Ui {
    metrics: Arc<Metrics>,
    jobs: Mutex<BTreeMap<String, Followed>>,
    updates: broadcast::Sender<Update>,
}

impl Default for Ui {
    fn default() -> Self {
        Ui { metrics: Arc::default(), jobs: Mutex::default(), updates: broadcast::channel(256).0 }
    }
}

impl Ui {
    /// Follows the job of `plan` on `events` from now on (a job run again replaces its earlier view).
    ///
    /// ```
    /// let spec = "[job]\nname = \"f\"\nbatch_interval = \"1s\"\n[sources.in]\nkind = \"socket\"\nhost = \"127.0.0.1\"\nport = 1\n\
    ///             [sinks.out]\nkind = \"print\"\nfrom = \"in\"\n";
    /// let plan = weir::graph::plan::parse(std::path::Path::new("j.toml"), spec).unwrap();
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// let ui = std::sync::Arc::new(weir::ui::Ui::default());
    /// ui.follow(rt.handle(), &plan, &weir::event::Events::default());
    /// assert_eq!(ui.job_names(), vec!["f".to_string()]);
    /// ```
    pub fn follow(self: &Arc<Self>, io: &tokio::runtime::Handle, plan: &Plan, events: &Events) {
        let name = plan.name.clone();
        self.metrics.follow(io, &name, events);
        let screens: Vec<(String, String)> = plan
            .sinks
            .iter()
            .filter(|(_, s)| matches!(s, SinkSpec::Screen { .. }))
            .map(|(sink, s)| (s.from().to_string(), sink.clone()))
            .collect();
        let plugins: Vec<String> =
            plan.streams.iter().filter(|(_, s)| s.plugin().is_some()).map(|(n, _)| n.clone()).collect();
        let view = Arc::new(Mutex::new(view::JobView::new(plan.interval, &plugins, &screens)));
        let mut streams: Vec<String> = plan.sources.iter().map(|(n, _)| n.clone()).collect();
        streams.extend(plan.streams.iter().map(|(n, _)| n.clone()));
        let followed = Followed {
            view: view.clone(),
            graph: graph::svg(plan),
            screens: screens.into_iter().map(|(stream, _)| stream).collect(),
            streams,
        };
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).insert(name.clone(), followed);
        let (updates, job): (_, Arc<str>) = (self.updates.clone(), name.into());
        events.follow(io, move |event| {
            let change = view.lock().unwrap_or_else(|e| e.into_inner()).observe(event);
            if let Some((name, data)) = change {
                let _ = updates.send(Update { job: job.clone(), name, data: data.to_string().into() });
            }
        });
    }

    /// The metrics of every followed job.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The jobs followed, by name.
    pub fn job_names(&self) -> Vec<String> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    /// Every followed job's one-line summary, by name (one lock for all).
    fn summaries(&self) -> Vec<(String, serde_json::Value)> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.iter()
            .map(|(name, f)| (name.clone(), f.view.lock().unwrap_or_else(|e| e.into_inner()).summary()))
            .collect()
    }

    /// Runs `f` on job `job`'s view and page parts, if it is followed.
    fn with_job<T>(&self, job: &str, f: impl FnOnce(&Followed, &view::JobView) -> T) -> Option<T> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let followed = jobs.get(job)?;
        let view = followed.view.lock().unwrap_or_else(|e| e.into_inner());
        Some(f(followed, &view))
    }

    /// Live updates of every job, from now on.
    fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }
}
