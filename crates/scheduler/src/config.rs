//! The runtime's configuration: one struct, public fields, documented defaults.

use crate::error::Error;

/// How a [`Runtime`](crate::Runtime) is built. Validated once by `Runtime::new`.
#[derive(Clone, Debug)]
pub struct Config {
    /// Worker threads that run processes. `0` (the default) means one per core
    /// (`std::thread::available_parallelism`), as the BEAM starts one scheduler per core.
    pub workers: usize,
    /// Reductions a process may spend per resume before [`Context::consume`] returns
    /// `false` and the process should return `Step::Yield`. Default 2000: small enough that a
    /// busy process gives the worker back within tens of microseconds, large enough that
    /// the cost of a reschedule is amortised.
    ///
    /// [`Context::consume`]: crate::Context::consume
    pub reductions: u32,
    /// Name prefix of the worker threads (`tern-worker-0`, ...) and of the timer thread
    /// (`tern-worker-timer`), for debuggers and `top -H`. Default `"tern-worker"`.
    pub thread_name: String,
    /// Stack size of each worker thread in bytes. Default 2 MiB: processes do not run on
    /// their own stacks, so only `resume` frames live here.
    pub stack_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 0,
            reductions: 2000,
            thread_name: "tern-worker".to_string(),
            stack_size: 2 << 20,
        }
    }
}

/// The most workers a runtime accepts; more is a configuration mistake, not a need.
pub(crate) const MAX_WORKERS: usize = 1024;

impl Config {
    /// Checks the fields and resolves `workers == 0` to the number of cores.
    pub(crate) fn validated(mut self) -> Result<Config, Error> {
        if self.workers == 0 {
            self.workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        }
        if self.workers > MAX_WORKERS {
            return Err(Error::InvalidConfig {
                field: "workers",
                reason: "more than 1024 worker threads",
            });
        }
        if self.reductions == 0 {
            return Err(Error::InvalidConfig {
                field: "reductions",
                reason: "the budget must be at least 1",
            });
        }
        if self.stack_size < 64 * 1024 {
            return Err(Error::InvalidConfig {
                field: "stack_size",
                reason: "worker stacks need at least 64 KiB",
            });
        }
        Ok(self)
    }
}
