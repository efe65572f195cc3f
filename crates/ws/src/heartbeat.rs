//! `HeartbeatState`: when to ping an idle peer and when to give up on it.
//!
//! Sans-IO and clock-free: every method takes `now`. The owner asks
//! [`HeartbeatState::next_deadline`], waits until then (or until input arrives), and calls
//! [`HeartbeatState::on_deadline`], which says what to do. Only a pong carrying the payload of
//! the ping we sent counts as the answer (RFC 6455 §5.5.3: unsolicited pongs are allowed and
//! ignored). Pings *from* the peer are answered by [`crate::Connection`], not here.

use std::time::{Duration, Instant};

use crate::config::Config;

/// What the owner must do when the heartbeat deadline passes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "send the ping or drop the connection"]
#[non_exhaustive]
pub enum HeartbeatAction {
    /// Nothing yet (called early, or activity pushed the deadline back).
    Nothing,
    /// Send a ping with this payload (encode it with the connection's role).
    SendPing(Vec<u8>),
    /// Our ping was not answered within the pong timeout: the peer is gone.
    TimedOut,
}

/// Ping-interval / pong-timeout bookkeeping for one connection.
#[derive(Debug, Clone)]
pub struct HeartbeatState {
    interval: Duration,
    timeout: Duration,
    /// When to send the next ping (meaningful while no ping is outstanding).
    next_ping: Instant,
    /// The outstanding ping: its payload and the instant its pong is due.
    awaiting: Option<([u8; 8], Instant)>,
    counter: u64,
}

impl HeartbeatState {
    /// Starts the clock at `now` with `Config::ping_interval` and `Config::pong_timeout`.
    pub fn new(config: &Config, now: Instant) -> Self {
        HeartbeatState {
            interval: config.ping_interval,
            timeout: config.pong_timeout,
            next_ping: now + config.ping_interval,
            awaiting: None,
            counter: 0,
        }
    }

    /// The instant at which `on_deadline` has something to do.
    pub fn next_deadline(&self) -> Instant {
        match self.awaiting {
            Some((_, due)) => due,
            None => self.next_ping,
        }
    }

    /// Call when the deadline passed (calling early is harmless: `Nothing`).
    pub fn on_deadline(&mut self, now: Instant) -> HeartbeatAction {
        match self.awaiting {
            Some((_, due)) if now >= due => HeartbeatAction::TimedOut,
            Some(_) => HeartbeatAction::Nothing,
            None if now >= self.next_ping => {
                self.counter = self.counter.wrapping_add(1);
                let payload = self.counter.to_be_bytes();
                self.awaiting = Some((payload, now + self.timeout));
                HeartbeatAction::SendPing(payload.to_vec())
            }
            None => HeartbeatAction::Nothing,
        }
    }

    /// A pong arrived. Returns true when it answers our outstanding ping (the next ping is then
    /// due one interval from `now`); any other pong is ignored.
    pub fn on_pong(&mut self, payload: &[u8], now: Instant) -> bool {
        match self.awaiting {
            Some((sent, _)) if sent[..] == *payload => {
                self.awaiting = None;
                self.next_ping = now + self.interval;
                true
            }
            _ => false,
        }
    }

    /// Any frame from the peer shows it is alive: while no ping is outstanding, push the next
    /// ping back to one interval from `now`. (An outstanding ping still needs its pong.)
    pub fn on_activity(&mut self, now: Instant) {
        if self.awaiting.is_none() {
            self.next_ping = now + self.interval;
        }
    }

    /// True while a ping is waiting for its pong.
    pub fn awaiting_pong(&self) -> bool {
        self.awaiting.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_then_pong_then_next_ping() {
        let t0 = Instant::now();
        let c = Config::default();
        let mut h = HeartbeatState::new(&c, t0);
        assert_eq!(h.next_deadline(), t0 + c.ping_interval);
        assert_eq!(h.on_deadline(t0), HeartbeatAction::Nothing);
        let t1 = t0 + c.ping_interval;
        let HeartbeatAction::SendPing(p) = h.on_deadline(t1) else {
            panic!("expected a ping")
        };
        assert_eq!(h.next_deadline(), t1 + c.pong_timeout);
        // Unsolicited / wrong pongs do not count.
        assert!(!h.on_pong(b"other", t1));
        assert!(!h.on_pong(&[], t1));
        assert!(h.awaiting_pong());
        assert!(h.on_pong(&p, t1));
        assert_eq!(h.next_deadline(), t1 + c.ping_interval);
    }

    #[test]
    fn unanswered_ping_times_out() {
        let t0 = Instant::now();
        let c = Config {
            ping_interval: Duration::from_secs(1),
            pong_timeout: Duration::from_secs(2),
            ..Config::default()
        };
        let mut h = HeartbeatState::new(&c, t0);
        assert!(matches!(
            h.on_deadline(t0 + Duration::from_secs(1)),
            HeartbeatAction::SendPing(_)
        ));
        h.on_activity(t0 + Duration::from_secs(2)); // activity does not replace the pong
        assert_eq!(
            h.on_deadline(t0 + Duration::from_secs(2)),
            HeartbeatAction::Nothing
        );
        assert_eq!(
            h.on_deadline(t0 + Duration::from_secs(3)),
            HeartbeatAction::TimedOut
        );
    }

    #[test]
    fn activity_defers_the_ping_and_payloads_differ() {
        let t0 = Instant::now();
        let c = Config::default();
        let mut h = HeartbeatState::new(&c, t0);
        h.on_activity(t0 + Duration::from_secs(20));
        assert_eq!(h.next_deadline(), t0 + Duration::from_secs(50));
        let HeartbeatAction::SendPing(a) = h.on_deadline(t0 + Duration::from_secs(50)) else {
            panic!()
        };
        assert!(h.on_pong(&a, t0 + Duration::from_secs(51)));
        let HeartbeatAction::SendPing(b) = h.on_deadline(t0 + Duration::from_secs(81)) else {
            panic!()
        };
        assert_ne!(a, b);
    }
}
