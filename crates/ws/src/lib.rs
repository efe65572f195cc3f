//! `ws`: the RFC 6455 WebSocket protocol core of tern. No threads, no actors.
//!
//! * Sans-IO protocol state, none of which touches a socket:
//!   [`ServerHandshake`] (bytes in → [`Request`] or an HTTP error) and [`Response`];
//!   [`Connection`] (bytes in → [`Event`]s, bytes to write out: pongs, close echoes);
//!   [`FragmentState`] (reassembly + incremental UTF-8); [`HeartbeatState`] (when to ping,
//!   when to give up).
//! * Encoding: [`encode`] / [`encode_into`] / [`encode_close`] produce one buffer per frame,
//!   ready to share (`Arc<[u8]>`) across a broadcast; [`OutFrame`] writes a server frame's
//!   header and payload with one vectored write, without copying the payload.
//! * Transport: [`WsStream`] (plain TCP or rustls) with `Read`/`Write` for `&WsStream`, so one
//!   reader and several writers share it without waiting on each other; TLS configs from PEM.
//! * A small blocking [`Client`] ([`connect`]).
//! * One [`Config`] (every limit and timing) and one [`Error`] (with [`Error::close_code`] and
//!   [`Error::http_status`]).

mod client;
mod close;
mod config;
mod connection;
mod error;
mod fragment;
mod frame;
mod handshake;
mod heartbeat;
mod stream;
mod tls;

pub use client::{connect, Client, ClientConfig, Recv};
pub use close::{is_valid_close_code, parse_close_payload, NO_STATUS};
pub use config::Config;
pub use connection::{CloseState, Connection, Event, Progress};
pub use error::Error;
pub use fragment::FragmentState;
pub use frame::{apply_mask, encode, encode_close, encode_into, Opcode, OutFrame, Role};
pub use handshake::{accept_key, HandshakeStatus, Request, Response, ServerHandshake};
pub use heartbeat::{HeartbeatAction, HeartbeatState};
pub use stream::{TlsStream, WsStream};
pub use tls::{
    client_config_from_pem, insecure_client_config, load_client_config, load_server_config,
    server_config_from_pem,
};

/// Re-exported so users name the same rustls types as this crate.
pub use rustls;

#[cfg(test)]
mod tests {
    /// The bridge shares `WsStream` between threads and moves the rest into them.
    #[test]
    fn thread_safety_of_public_types() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<crate::WsStream>();
        send_sync::<crate::Error>();
        send_sync::<crate::Config>();
        send::<crate::Connection>();
        send::<crate::ServerHandshake>();
        send::<crate::HeartbeatState>();
        send::<crate::Client>();
    }
}
