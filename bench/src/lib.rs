//! tern's WebSocket benchmark kit (issue 7): NOT part of the product.
//!
//! The binaries in `src/bin/` are the peer servers a user would pick instead of tern
//! (`tt_*`: tokio-tungstenite, `fws_*`: fastwebsockets on hyper), the load generator
//! (`loadgen`), the certificate maker for the wss case (`gencert`) and the report/plot tool
//! (`report`). `bench/run.sh` drives them. This library holds what they share:
//!
//! - [`client`]: a small RFC 6455 client (sans-IO codec plus a thin async layer) used by the
//!   load generator, so that the client side costs as little CPU as we can make it;
//! - [`stats`]: percentiles and medians;
//! - [`procfs`]: a server's RSS, threads and CPU from `/proc`, and a thread's own CPU time;
//! - [`rooms`]: the room registry the peer chat servers share;
//! - [`tls`]: rustls (ring provider) configurations for the wss case.
//!
//! Invariant for every peer server: it binds 127.0.0.1 only, takes the port as its first
//! argument, and behaves exactly as tern's examples do (echo; chat with rooms on
//! `/room/NAME`, other paths echo).

pub mod client;
pub mod procfs;
pub mod rooms;
pub mod stats;
pub mod tls;

/// The port given as the first command-line argument, or an error message naming the
/// program's usage.
pub fn port_arg(usage: &str) -> Result<u16, String> {
    let arg = std::env::args()
        .nth(1)
        .ok_or_else(|| format!("usage: {usage}"))?;
    arg.parse::<u16>()
        .map_err(|e| format!("bad port {arg:?}: {e}; usage: {usage}"))
}

/// Prints `listening on ADDR` on stdout (so a caller that passed port 0 learns the port).
pub fn announce(listener: &tokio::net::TcpListener) {
    use std::io::Write;
    if let Ok(addr) = listener.local_addr() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {addr}");
        let _ = out.flush();
    }
}

/// The room a request path names: `/room/NAME` gives `Some("NAME")` (NAME non-empty);
/// every other path gives `None` (the connection echoes).
pub fn room_of(path: &str) -> Option<&str> {
    let name = path.strip_prefix("/room/")?;
    let name = name.split(['?', '#']).next().unwrap_or("");
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::room_of;

    #[test]
    fn room_paths() {
        assert_eq!(room_of("/room/lobby"), Some("lobby"));
        assert_eq!(room_of("/room/lobby?x=1"), Some("lobby"));
        assert_eq!(room_of("/room/"), None);
        assert_eq!(room_of("/"), None);
        assert_eq!(room_of("/rooms/x"), None);
    }
}
