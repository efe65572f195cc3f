//! The WebSocket plugin: servers, connection actors, I/O threads, rooms, and a C ABI.
//!
//! It joins the `scheduler` (actors) and the `ws` protocol core (sans-IO). For each accepted
//! socket: one I/O thread (small stack, waits only in `poll(2)`) runs the handshake and then
//! reads, answers pings, keeps the heartbeat and the close handshake; one actor on the
//! scheduler receives the connection's [`Event`]s. Native Rust servers implement
//! [`Handler`] and call [`serve`]; a VM (or any host that wants its own actor per
//! connection) calls [`serve_with`] and handles the events itself; C hosts use the ABI in
//! `ffi` (see docs/embedding.md).
//!
//! ```no_run
//! use bridge::{Conn, Data, Handler, Options};
//! #[derive(Clone)]
//! struct Echo;
//! impl Handler for Echo {
//!     fn on_message(&mut self, conn: &Conn, msg: Data) {
//!         let _ = conn.send_payload(msg.as_payload());
//!     }
//! }
//! let rt = scheduler::Runtime::new(scheduler::Config::default());
//! let server = bridge::serve(&rt, Echo, 0, Options::default()).unwrap();
//! println!("listening on {}", server.port());
//! server.stop();
//! ```
//!
//! # Map
//! - `options`: [`Options`], every limit with its default. `error`: [`Error`].
//! - `server`: the listener, the accept thread, [`Server::stop`], the registry of servers;
//!   `busy`: the 503 to a client over `max_connections` (plain or TLS).
//! - `io`: the per-connection I/O thread; `pool`: spare I/O threads reused for new sockets;
//!   the socket itself, plain or TLS, is a shared `ws::WsStream` (see `conn`);
//!   `outbound`: the bounded queue of encoded frames; `sys`: `poll(2)` and `eventfd(2)`;
//!   `bufpool`: read buffers lent only while reading; `batch`: one write per connection per
//!   read on I/O threads; `ratelimit`: log lines an attacker can
//!   trigger.
//! - `conn`: [`Conn`], the handle any actor or thread uses to send and close.
//! - `event`: [`Event`]s posted to the connection actor; `handler`: [`Handler`] and the
//!   actor that runs it; `watch`: closes connections whose actor died.
//! - `rooms`: [`Rooms`], broadcast groups. `tls`: loading certificates. `ffi`: the C ABI.
//!
//! Lock order across the crate: rooms map → room members → a connection's room list → a
//! connection's `out`; a server's `live` and `conns` locks are taken alone. No lock is held
//! across a blocking call.

mod batch;
mod bufpool;
mod busy;
mod conn;
mod error;
mod event;
pub mod ffi;
mod frame;
mod handler;
mod io;
mod options;
mod outbound;
mod pool;
mod ratelimit;
mod rooms;
mod server;
mod sys;
mod tls;
mod watch;

pub use conn::{Conn, Decision};
pub use error::Error;
pub use event::{Data, Event, EventKind, Payload};
pub use handler::Handler;
pub use options::Options;
pub use rooms::Rooms;
pub use server::{serve, serve_tls, serve_with, servers, Server, ServerInfo};
pub use tls::load_server_config;

/// The close code sent to a connection whose outbound buffer overflowed (a peer that does
/// not read): 1008, policy violation.
pub const CLOSE_OUTBOUND_FULL: u16 = 1008;
