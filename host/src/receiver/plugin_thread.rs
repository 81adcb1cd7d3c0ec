//! A source plugin on a thread of its own. Its calls are synchronous (each up to its deadline) and its
//! HTTP requests block, so they stay off the job's two I/O threads; and one owner keeps `seek`, `poll`
//! and `commit` in order without a lock. The thread ends when every handle to it is gone.

use crate::operator::wasm::PluginInstance;
use crate::operator::wasm::connector::Polled;

/// Makes a new instance, `init` done: at the start, and after a failed call left the last unusable.
pub(super) type Maker = Box<dyn FnMut() -> Result<PluginInstance, String> + Send>;

type Call = Box<dyn FnOnce(&mut Held) + Send>;

/// Why a call failed.
#[derive(Debug)]
pub(super) enum CallError {
    /// The sandbox stopped the plugin (a trap, the deadline, the memory cap), or no instance could be
    /// made: the next call makes a new instance, sought to where the last one was.
    Sandbox(String),
    /// The plugin answered with an error: worth waiting and asking again.
    Plugin(String),
}

/// The instance as the thread holds it, and where it is.
pub(super) struct Held {
    make: Maker,
    inst: Option<PluginInstance>,
    at: Option<String>,
}

impl Held {
    /// The instance, made and sought to where the source is when there is none.
    fn instance(&mut self) -> Result<&mut PluginInstance, CallError> {
        if self.inst.is_none() {
            let mut inst = (self.make)().map_err(CallError::Sandbox)?;
            match inst.seek(self.at.as_deref()) {
                Ok(Ok(())) => {}
                Ok(Err(refused)) => return Err(CallError::Sandbox(format!("`seek` refused {:?}: {refused}", self.at))),
                Err(failure) => return Err(CallError::Sandbox(format!("in `seek`: {failure}"))),
            }
            self.inst = Some(inst);
        }
        Ok(self.inst.as_mut().expect("made above"))
    }

    /// Turns a call's outcome into ours, dropping the instance when the sandbox stopped it.
    fn settle<T>(&mut self, call: &str, r: crate::operator::wasm::connector::Called<T>) -> Result<T, CallError> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(message)) => Err(CallError::Plugin(format!("`{call}` failed: {message}"))),
            Err(failure) => {
                self.inst = None;
                Err(CallError::Sandbox(format!("in `{call}`: {failure}")))
            }
        }
    }

    fn poll(&mut self, max: u32, until: Option<&str>) -> Result<Polled, CallError> {
        let r = self.instance()?.poll(max, until);
        let polled = self.settle("poll", r)?;
        self.at = Some(polled.offset.clone());
        Ok(polled)
    }

    fn commit(&mut self, through: &str) -> Result<(), CallError> {
        let r = self.instance()?.commit(through);
        self.settle("commit", r)
    }
}

/// A handle to the thread.
#[derive(Clone)]
pub(super) struct PluginThread {
    tx: flume::Sender<Call>,
}

const GONE: &str = "the source plugin's thread has stopped";

impl PluginThread {
    /// Starts the thread of source `name`, which makes its instance on first use and seeks it to `at`.
    pub(super) fn start(name: &str, make: Maker, at: Option<String>) -> std::io::Result<PluginThread> {
        let (tx, rx) = flume::bounded::<Call>(1);
        let span = tracing::Span::current();
        std::thread::Builder::new().name(format!("weir-source-{name}")).spawn(move || {
            let _entered = span.entered();
            let mut held = Held { make, inst: None, at };
            for call in rx.iter() {
                call(&mut held);
            }
        })?;
        Ok(PluginThread { tx })
    }

    async fn call<T: Send + 'static>(&self, f: impl FnOnce(&mut Held) -> T + Send + 'static) -> Result<T, String> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let call: Call = Box::new(move |held| {
            let _ = done.send(f(held));
        });
        self.tx.send_async(call).await.map_err(|_| GONE.to_string())?;
        answer.await.map_err(|_| GONE.to_string())
    }

    /// One `poll`; the outer error: the thread is gone.
    pub(super) async fn poll(&self, max: u32, until: Option<String>) -> Result<Result<Polled, CallError>, String> {
        self.call(move |held| held.poll(max, until.as_deref())).await
    }

    /// One `commit`; the outer error: the thread is gone.
    pub(super) async fn commit(&self, through: String) -> Result<Result<(), CallError>, String> {
        self.call(move |held| held.commit(&through)).await
    }
}
