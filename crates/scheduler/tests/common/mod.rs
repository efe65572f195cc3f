//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use scheduler::{Config, Mailbox, Message, Runtime};

/// Every wait in the tests is bounded by this; a hang fails the test instead.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn runtime(workers: usize) -> Runtime {
    Runtime::new(Config {
        workers,
        ..Config::default()
    })
}

/// The next message, which must be a user message of type `T`.
pub fn recv<T: 'static>(mb: &Mailbox) -> T {
    match mb.recv_timeout(WAIT) {
        Some(m) => match m.downcast::<T>() {
            Ok(v) => v,
            Err(other) => panic!("expected a {}, got {other:?}", std::any::type_name::<T>()),
        },
        None => panic!("no message within {WAIT:?}"),
    }
}

/// The next message of any kind.
pub fn recv_any(mb: &Mailbox) -> Message {
    mb.recv_timeout(WAIT)
        .unwrap_or_else(|| panic!("no message within {WAIT:?}"))
}
