//! Inbound flow control: while the actor is busy, the I/O thread stops reading once the
//! actor holds `inbound_queue_messages` unprocessed messages; it resumes when they drain,
//! and nothing is lost or reordered.

mod common;
use common::*;

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bridge::{Conn, Data, Handler};
use tungstenite::Message;

#[derive(Clone)]
struct Slow {
    gate: Arc<Mutex<Receiver<()>>>,
    seen: Sender<String>,
    conn: Sender<Conn>,
}

impl Handler for Slow {
    fn on_connect(&mut self, conn: &Conn) -> bridge::Decision {
        let _ = self.conn.send(conn.clone());
        bridge::Decision::ACCEPT
    }
    fn on_message(&mut self, _conn: &Conn, msg: Data) {
        if let Data::Text(t) = msg {
            if t == "0" {
                // Busy until the test opens the gate (bounded, so a failing test ends).
                let _ = self.gate.lock().unwrap().recv_timeout(WAIT);
            }
            let _ = self.seen.send(t);
        }
    }
}

#[test]
fn reading_pauses_at_the_bound_and_resumes() {
    let rt = rt();
    let (open_gate, gate) = channel();
    let (seen_tx, seen) = channel();
    let (conn_tx, conn_rx) = channel();
    let h = Slow {
        gate: Arc::new(Mutex::new(gate)),
        seen: seen_tx,
        conn: conn_tx,
    };
    let limit = 10;
    // The handler blocks: it must run on a worker (run inline, it would block the reader
    // itself, which is back-pressure of another kind).
    let o = bridge::Options {
        inbound_queue_messages: limit,
        run_actor_on_io_thread: false,
        ..opts()
    };
    let server = bridge::serve(&rt, h, 0, o).unwrap();
    let mut c = connect(server.port(), "/");
    let conn = conn_rx.recv_timeout(WAIT).unwrap();
    let n = 300;
    for i in 0..n {
        c.send(Message::text(i.to_string())).unwrap();
    }
    // The actor is stuck on "0"; the I/O thread delivers up to the bound, then stops.
    assert!(eventually(|| conn.pending_inbound().0 >= limit));
    let until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < until {
        let (msgs, _) = conn.pending_inbound();
        assert!(
            msgs <= limit,
            "{msgs} messages queued past the bound of {limit}"
        );
    }
    open_gate.send(()).unwrap();
    for i in 0..n {
        assert_eq!(seen.recv_timeout(WAIT).unwrap(), i.to_string());
    }
    assert!(eventually(|| conn.pending_inbound() == (0, 0)));
    server.stop();
    rt.shutdown();
}
