//! The `[restart]` table: what `weir serve` does when a job fails for a reason worth a retry (a server
//! down, a full disk; not a bad spec or a record refused with `on_error = "fail"`), as Flink's
//! fixed-delay and exponential-delay strategies. `weir run` runs once and leaves restarting to its caller.

use std::time::Duration;

use serde::Deserialize;

use super::millis::Millis;

/// How restarts are spaced.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Never restart.
    None,
    /// Wait `delay` before each restart.
    #[default]
    FixedDelay,
    /// Wait `delay`, then twice as long each time, at most `max_delay`.
    Exponential,
}

/// A job's restart policy.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RestartSpec {
    /// The strategy (default `fixed-delay`).
    #[serde(default)]
    pub strategy: Strategy,
    /// Restarts after consecutive failures before the job is left failed (default 3).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The first wait (default 1s).
    #[serde(default = "default_delay")]
    pub delay: Millis,
    /// The longest wait of `exponential` (default 1m).
    #[serde(default = "default_max_delay")]
    pub max_delay: Millis,
}

fn default_attempts() -> u32 {
    3
}

fn default_delay() -> Millis {
    Millis(1000)
}

fn default_max_delay() -> Millis {
    Millis(60_000)
}

impl Default for RestartSpec {
    fn default() -> Self {
        RestartSpec {
            strategy: Strategy::default(),
            attempts: default_attempts(),
            delay: default_delay(),
            max_delay: default_max_delay(),
        }
    }
}

impl RestartSpec {
    /// How long to wait before restart number `attempt` (from 1), or `None` when the policy is spent.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::graph::restart::{RestartSpec, Strategy};
    /// use weir::graph::spec::Millis;
    /// let p = RestartSpec { strategy: Strategy::Exponential, attempts: 4, delay: Millis(100), max_delay: Millis(300) };
    /// let waits: Vec<_> = (1..=5).map(|a| p.delay_before(a)).collect();
    /// let ms = |m| Some(Duration::from_millis(m));
    /// assert_eq!(waits, [ms(100), ms(200), ms(300), ms(300), None]);
    /// assert_eq!(RestartSpec { strategy: Strategy::None, ..p }.delay_before(1), None);
    /// ```
    pub fn delay_before(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt > self.attempts {
            return None;
        }
        let ms = match self.strategy {
            Strategy::None => return None,
            Strategy::FixedDelay => self.delay.0,
            Strategy::Exponential => {
                let grown = self.delay.0.saturating_mul(1u64 << (attempt - 1).min(32));
                grown.min(self.max_delay.0.max(self.delay.0))
            }
        };
        Some(Duration::from_millis(ms))
    }
}
