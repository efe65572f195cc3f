//! The harness of the adversarial suite (`hardening/tests/`, one file per attack).
//!
//! The server under attack runs as a subprocess (`harden-server`, built on the bridge's
//! public API only), so that a test can read its RSS, descriptors and threads from `/proc`,
//! see it survive, and stop it as an operator would. Around each attack a few well-behaved
//! clients keep an echo or a room conversation going; the test fails if one of them sees an
//! error, loses a message or waits longer than a generous bound.
//!
//! Invariants:
//! - Everything is on loopback (127.0.0.1), every loop is bounded in count and time, and
//!   waits are on deadlines (channel `recv_timeout`, socket timeouts), never bare sleeps;
//!   the only polling is of `/proc` and of the server's counters, with a deadline.
//! - Sizes come from [`soak`]: the short run (`make test`) unless `TERN_SOAK=1`
//!   (`hardening/run-soak.sh`) selects the long one.
//! - This crate is test support: it returns figures, the tests print them.
//!
//! # Map
//! - `args`: [`ServerArgs`], the server's options as a command line.
//! - `process`: [`ServerProc`] (spawn, commands, stop, `/proc` figures), [`Stats`],
//!   [`ProcStats`], [`RssMonitor`].
//! - `good`: [`GoodClients`] (echo round trips) and [`RoomTalk`] (a room conversation).
//! - `raw`: hand-made upgrade requests and frames for the attacks, a small PRNG.
//! - `tls`: [`TestCert`], a certificate made at run time, and wss clients.

mod args;
mod good;
mod process;
mod raw;
mod tls;

pub use args::ServerArgs;
pub use good::{GoodClients, GoodReport, RoomTalk};
pub use process::{wait_until, ProcStats, RssMonitor, ServerProc, Stats, StopReport};
pub use raw::{
    close_code, masked_frame, raw_upgrade, read_frame, read_http_head, set_recv_buffer,
    upgrade_request, Frame, Rng,
};
pub use tls::{TestCert, WssClient};

use std::time::Duration;

/// Whether the long sizes are selected (`TERN_SOAK=1`, set by `hardening/run-soak.sh`).
pub fn soak() -> bool {
    std::env::var("TERN_SOAK").is_ok_and(|v| v == "1")
}

/// `short` in the `make test` run, `long` in the soak run.
pub fn size<T>(short: T, long: T) -> T {
    if soak() {
        long
    } else {
        short
    }
}

/// The bound on a good client's round trip (or a room message's delivery) during an attack.
/// Generous: the suite runs on 2 busy cores next to other builds.
pub const RTT_BOUND: Duration = Duration::from_secs(2);
