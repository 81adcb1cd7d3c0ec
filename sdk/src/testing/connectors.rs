//! Native harnesses for source and sink plugins: a source read, sought and checked for replay; a sink
//! written to, its HTTP requests answered by the test after the same grant check a job makes.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use crate::connector::{Read, Sink, Source};
use crate::http::{self, HttpError, Request, Response};
use crate::operator::{Plugin, set_params};
use crate::record::Record;

/// Answers a plugin's HTTP requests in a native test.
pub type HttpHandler = Rc<dyn Fn(&Request) -> Result<Response, HttpError>>;

/// The HTTP side of a harness: what the job would grant and how the test answers.
#[derive(Clone, Default)]
struct Http {
    grants: Vec<String>,
    handler: Option<HttpHandler>,
    sent: Rc<RefCell<Vec<Request>>>,
}

impl Http {
    /// Puts this harness's HTTP in place for the calls made on this thread: the grant check a job
    /// makes, then the test's handler, each request it lets through recorded.
    fn install(&self) {
        let answer = self.handler.clone().map(|handler| {
            let (grants, sent) = (self.grants.clone(), self.sent.clone());
            let answer: http::Answer = Rc::new(move |req: Request| {
                http::allowed(&grants, &req.url).map_err(HttpError::Denied)?;
                sent.borrow_mut().push(req.clone());
                handler(&req)
            });
            answer
        });
        http::answer_natively(answer);
    }
}

/// A native harness for a source or sink plugin `P`: parameters and HTTP grants, then reads
/// ([`SourceHarness`]) or writes ([`SinkHarness`]).
pub struct PluginHarness<P: Plugin> {
    params: Vec<(String, String)>,
    http: Http,
    plugin: PhantomData<P>,
}

/// A native harness for a source: reads from an offset, checks replay.
pub type SourceHarness<S> = PluginHarness<S>;

/// A native harness for a sink: batches written, HTTP requests answered.
pub type SinkHarness<K> = PluginHarness<K>;

impl<P: Plugin> Default for PluginHarness<P> {
    fn default() -> Self {
        PluginHarness { params: Vec::new(), http: Http::default(), plugin: PhantomData }
    }
}

impl<P: Plugin> PluginHarness<P> {
    /// A harness with no parameters, granting no host.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a job parameter.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Grants the plugin HTTP to `hosts` (as `grants.http` in a job).
    pub fn grant_http(mut self, hosts: &[&str]) -> Self {
        self.http.grants = hosts.iter().map(|h| h.to_string()).collect();
        self
    }

    /// Answers the plugin's HTTP requests with `handler`, after the grant check.
    pub fn on_http(mut self, handler: impl Fn(&Request) -> Result<Response, HttpError> + 'static) -> Self {
        self.http.handler = Some(Rc::new(handler));
        self
    }

    /// Stores the parameters and runs the plugin's `init` check, as a job's start does.
    pub fn open(self) -> Result<Self, String> {
        set_params::<P>(self.params.clone())?;
        Ok(self)
    }

    /// The HTTP requests the plugin sent so far (those its grants let through).
    pub fn requests(&self) -> Vec<Request> {
        self.http.sent.borrow().clone()
    }
}

/// Reading a source.
///
/// ```
/// # use weir_sdk::{Plugin, TransformKind, Record, connector::{Read, Source}, testing::SourceHarness};
/// struct Count;
/// impl Plugin for Count {
///     const NAME: &'static str = "count"; const VERSION: &'static str = "0";
///     const KIND: TransformKind = TransformKind::Source; const PARAMS: &'static [&'static str] = &[];
/// }
/// impl Source for Count {
///     type Offset = u64;
///     fn read(from: &u64, max: usize, until: Option<&u64>) -> Result<Read<u64>, String> {
///         let end = (from + max as u64).min(10).min(until.copied().unwrap_or(u64::MAX));
///         Ok(Read { records: (*from..end).map(|i| Record::i64(i as i64)).collect(), next: end, finished: end == 10 })
///     }
/// }
/// let h = SourceHarness::<Count>::new().open().unwrap();
/// let (records, offsets) = h.read_all(4).unwrap();
/// assert_eq!((records.len(), offsets), (10, vec![4, 8, 10]));
/// h.check_replay(3).unwrap();
/// ```
impl<S: Source> PluginHarness<S> {
    /// One read of at most `max` records from `from`, none past `until`.
    pub fn poll(&self, from: &S::Offset, max: usize, until: Option<&S::Offset>) -> Result<Read<S::Offset>, String> {
        self.http.install();
        let read = S::read(from, max, until)?;
        if read.records.len() > max {
            return Err(format!("read {} records where at most {max} were asked", read.records.len()));
        }
        Ok(read)
    }

    /// Reads everything from the start, `max` at a time: the records and the offset after each read.
    /// A source that never finishes is read until a read returns nothing.
    pub fn read_all(&self, max: usize) -> Result<(Vec<Record<'static>>, Vec<S::Offset>), String> {
        let (mut records, mut offsets, mut at) = (Vec::new(), Vec::new(), S::Offset::default());
        loop {
            let read = self.poll(&at, max, None)?;
            let (n, finished) = (read.records.len(), read.finished);
            records.extend(read.records);
            if n > 0 || read.next != at {
                offsets.push(read.next.clone());
            }
            at = read.next;
            if finished || n == 0 {
                return Ok((records, offsets));
            }
        }
    }

    /// Checks what exactly-once recovery needs of a source: read from any offset it returned, it gives
    /// the same records again; read with `until` set to a later offset, it stops exactly there; and
    /// reads of one record and of many give the same records.
    pub fn check_replay(&self, max: usize) -> Result<(), String> {
        let (all, offsets) = self.read_all(max)?;
        let (one_by_one, _) = self.read_all(1)?;
        if one_by_one != all {
            return Err(format!(
                "reads of 1 record gave {} records, reads of {max} gave {}",
                one_by_one.len(),
                all.len()
            ));
        }
        let mut from = S::Offset::default();
        let mut done = 0;
        for (i, next) in offsets.iter().enumerate() {
            let read = self.poll(&from, all.len().max(1), Some(next))?;
            if read.next != *next {
                return Err(format!("a read until offset #{i} stopped elsewhere"));
            }
            let expected = &all[done..done + read.records.len().min(all.len() - done)];
            if read.records != expected {
                return Err(format!("read again up to offset #{i}, the source gave other records"));
            }
            done += read.records.len();
            from = next.clone();
        }
        Ok(())
    }
}

/// Writing to a sink.
impl<K: Sink> PluginHarness<K> {
    /// Writes the batch at `time`.
    pub fn write(&self, time: i64, records: &[Record<'_>]) -> Result<(), String> {
        self.http.install();
        K::write(time, records.to_vec())
    }
}
