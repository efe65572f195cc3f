//! M:N green actors: a fixed pool of worker threads runs many processes.
//!
//! A process is anything that implements [`Process`]: a worker calls
//! [`Process::resume`] and the process runs until it returns a [`Step`] (wait for a
//! message, yield, or exit). There is no stack switching: a native actor is a state
//! machine or a message handler ([`Runtime::spawn_fn`]); a VM process keeps its stack as
//! data. See `docs/actors.md` for the model from a user's point of view.
//!
//! ```
//! use std::time::Duration;
//! use scheduler::{Config, Control, Runtime};
//!
//! let rt = Runtime::new(Config::default());
//! let (me, mailbox) = rt.mailbox(); // a pid for this (non-actor) thread
//! let doubler = rt.spawn_fn(move |cx, msg| {
//!     if let Ok(n) = msg.downcast::<u64>() {
//!         cx.send(me, n * 2);
//!     }
//!     Control::Continue
//! });
//! rt.send(doubler, 21u64);
//! let reply = mailbox.recv_timeout(Duration::from_secs(5)).unwrap();
//! assert_eq!(reply.downcast::<u64>().unwrap(), 42);
//! rt.shutdown();
//! ```
//!
//! # Map
//! - `runtime`: [`Runtime`], the shared state, spawn/send/exit/timers/registry entry points.
//! - `state`: the run-state word of a process and its transitions.
//! - `table`: the process table (pid → cell) and the cell (run state, inbox).
//! - `signal`: what travels through an inbox; `owned`: the per-process state that only
//!   the thread running the process touches (links, monitors, private queue).
//! - `context`: [`Context`], what a process sees inside `resume`.
//! - `worker`: the worker threads, run queues and parking; `timer`: the timer thread;
//!   `registry`: names; `mailbox`: [`Mailbox`], a pid for a thread that is not an actor.
//!
//! The invariants (run states, lock order, who may block) are stated in `runtime`'s docs.

mod config;
mod context;
mod error;
mod mailbox;
mod message;
mod owned;
mod pid;
mod process;
mod registry;
mod runtime;
mod signal;
mod state;
mod table;
mod timer;
mod worker;

pub use config::Config;
pub use context::Context;
pub use error::Error;
pub use mailbox::Mailbox;
pub use message::{ExitReason, Message};
pub use pid::{MonitorRef, Pid, TimerRef};
pub use process::{Control, Process, Step};
pub use runtime::Runtime;
