//! [`ServerArgs`]: the options of `harden-server`, written and parsed as `key=value`
//! arguments, so that a test states only the limits its attack needs.

use std::path::PathBuf;
use std::time::Duration;

/// What `harden-server` runs with. Starts from `bridge::Options::default()` bound to
/// 127.0.0.1, with a 2 s stop timeout (tests stop servers with clients that never answer).
#[derive(Debug, Clone)]
pub struct ServerArgs {
    /// The bridge options of both servers (plain and TLS).
    pub opts: bridge::Options,
    /// Scheduler workers. Default 2 (the machine's cores).
    pub workers: usize,
    /// PEM certificate chain and key: also serve wss on a second port.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `RUST_LOG` of the server. Default `info`, so the tests see (and bound) its logging.
    pub log: String,
    /// A descriptor limit (`RLIMIT_NOFILE`) for the server process, set through `prlimit`.
    /// Default none (inherited).
    pub nofile: Option<u64>,
}

impl Default for ServerArgs {
    fn default() -> ServerArgs {
        ServerArgs {
            opts: bridge::Options {
                bind_addr: "127.0.0.1".parse().expect("literal address"),
                stop_timeout: Duration::from_secs(2),
                // Spare I/O threads exit soon, so the suites can still check that the
                // server's thread count returns to its baseline after an attack.
                spare_io_thread_timeout: Duration::from_millis(500),
                ..Default::default()
            },
            workers: 2,
            tls: None,
            log: "info".into(),
            nofile: None,
        }
    }
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

impl ServerArgs {
    /// The command line (without the program).
    pub fn to_args(&self) -> Vec<String> {
        let o = &self.opts;
        let mut v = vec![
            format!("workers={}", self.workers),
            format!("max_connections={}", o.max_connections),
            format!("handshake_ms={}", ms(o.handshake_timeout)),
            format!("max_request_bytes={}", o.max_request_bytes),
            format!("max_frame_size={}", o.max_frame_size),
            format!("max_message_size={}", o.max_message_size),
            format!("outbound_buffer={}", o.outbound_buffer),
            format!("inbound_queue_bytes={}", o.inbound_queue_bytes),
            format!("inbound_queue_messages={}", o.inbound_queue_messages),
            format!(
                "heartbeat_ms={}",
                o.heartbeat_interval.map_or("0".into(), ms)
            ),
            format!("heartbeat_timeout_ms={}", ms(o.heartbeat_timeout)),
            format!("close_ms={}", ms(o.close_timeout)),
            format!("stop_ms={}", ms(o.stop_timeout)),
            format!("spare_ms={}", ms(o.spare_io_thread_timeout)),
        ];
        if let Some((c, k)) = &self.tls {
            v.push(format!("tls_cert={}", c.display()));
            v.push(format!("tls_key={}", k.display()));
        }
        v
    }

    /// Parses what [`ServerArgs::to_args`] wrote; unknown keys and bad numbers are errors.
    pub fn parse(args: &[String]) -> Result<ServerArgs, String> {
        let mut a = ServerArgs::default();
        let mut cert = None;
        let mut key = None;
        for arg in args {
            let (k, v) = arg
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got {arg:?}"))?;
            let num = || -> Result<u64, String> {
                v.parse::<u64>()
                    .map_err(|_| format!("{k}: not a number: {v:?}"))
            };
            let o = &mut a.opts;
            match k {
                "workers" => a.workers = num()? as usize,
                "max_connections" => o.max_connections = num()? as usize,
                "handshake_ms" => o.handshake_timeout = Duration::from_millis(num()?),
                "max_request_bytes" => o.max_request_bytes = num()? as usize,
                "max_frame_size" => o.max_frame_size = num()? as usize,
                "max_message_size" => o.max_message_size = num()? as usize,
                "outbound_buffer" => o.outbound_buffer = num()? as usize,
                "inbound_queue_bytes" => o.inbound_queue_bytes = num()? as usize,
                "inbound_queue_messages" => o.inbound_queue_messages = num()? as usize,
                "heartbeat_ms" => {
                    o.heartbeat_interval = match num()? {
                        0 => None,
                        n => Some(Duration::from_millis(n)),
                    }
                }
                "heartbeat_timeout_ms" => o.heartbeat_timeout = Duration::from_millis(num()?),
                "close_ms" => o.close_timeout = Duration::from_millis(num()?),
                "stop_ms" => o.stop_timeout = Duration::from_millis(num()?),
                "spare_ms" => o.spare_io_thread_timeout = Duration::from_millis(num()?),
                "tls_cert" => cert = Some(PathBuf::from(v)),
                "tls_key" => key = Some(PathBuf::from(v)),
                _ => return Err(format!("unknown option {k:?}")),
            }
        }
        a.tls = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err("tls_cert and tls_key go together".into()),
        };
        Ok(a)
    }

    /// The bridge options to serve with.
    pub fn options(&self) -> bridge::Options {
        self.opts.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_round_trips() {
        let mut a = ServerArgs::default();
        a.opts.max_connections = 7;
        a.opts.heartbeat_interval = None;
        a.opts.handshake_timeout = Duration::from_millis(1500);
        a.opts.spare_io_thread_timeout = Duration::from_millis(250);
        let b = ServerArgs::parse(&a.to_args()).unwrap();
        assert_eq!(b.opts.spare_io_thread_timeout, Duration::from_millis(250));
        assert_eq!(b.opts.max_connections, 7);
        assert_eq!(b.opts.heartbeat_interval, None);
        assert_eq!(b.opts.handshake_timeout, Duration::from_millis(1500));
        assert!(ServerArgs::parse(&["nope=1".into()]).is_err());
        assert!(ServerArgs::parse(&["workers=x".into()]).is_err());
    }
}
