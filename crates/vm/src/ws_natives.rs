//! The `Ws` and `WsClient` modules (bind the `bridge` and `ws` crates).

use crate::natives::Native;

/// Live servers started by this program.
#[derive(Default)]
#[allow(dead_code)] // filled in with the Ws module
pub(crate) struct Servers {}

pub(crate) static NATIVES: &[Native] = &[];

/// `:servers` text.
pub(crate) fn describe_servers(_env: &crate::process::Env) -> String {
    "no servers".into()
}

/// `:rooms` text.
pub(crate) fn describe_rooms(_env: &crate::process::Env) -> String {
    "no rooms".into()
}

/// Blocks until every server of this program has stopped (or SIGINT/SIGTERM).
pub fn wait_for_servers(_env: &crate::process::Env) {}

/// Stops every server of this program (close code 1001).
pub fn stop_servers(_env: &crate::process::Env) {}
