//! SIGINT (Ctrl-C) and SIGTERM for `weir run`: the first asks the job to stop (drain, or at the next
//! batch boundary with `--no-drain`); a second cancels it (next boundary, no final checkpoint); a third
//! aborts at once with exit code 130.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use weir::job::{StopRequest, Stopper};

/// Exit code after a third signal.
const EXIT_ABORTED: i32 = 130;

/// Starts a thread that turns the process's signals into stop requests on `stopper`.
pub fn forward(stopper: Stopper, first: StopRequest) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("weir-signals".into()).spawn(move || {
        let mut count = 0;
        for signal in signals.forever() {
            let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
            count += 1;
            if count == 1 {
                tracing::info!("{name}: stopping (a second signal cancels, a third aborts)");
                stopper.request(first);
            } else if count == 2 {
                tracing::warn!("{name}: cancelling at the next batch boundary, without a final checkpoint");
                stopper.request(StopRequest::Cancel);
            } else {
                tracing::warn!("aborted by a third {name}");
                std::process::exit(EXIT_ABORTED);
            }
        }
    })?;
    Ok(())
}
