//! Churn: connect, join a room, send, close, many times → descriptors, threads, rooms and
//! connection counts return to their baseline (nothing leaks per connection).

mod common;
use common::*;

use tungstenite::Message;

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn nothing_leaks_per_connection() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let conns = h.conns.clone();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    let (fd0, th0) = (fds(), threads());
    for i in 0..150 {
        let mut c = connect(server.port(), "/");
        next(&rx);
        let conn = conns.lock().unwrap().pop().unwrap();
        conn.join("churn");
        c.send(Message::text(format!("m{i}"))).unwrap();
        assert_eq!(recv(&mut c), Message::text(format!("m{i}")));
        if i % 2 == 0 {
            c.close(None).unwrap();
            let _ = recv_close(&mut c);
        } // else: dropped without a close (1006 on our side)
        drop(c);
        drop(conn);
        until(&rx, |r| matches!(r, Rec::Close { .. }));
    }
    assert!(eventually(
        || server.connection_count() == 0 && server.rooms().room_count() == 0
    ));
    assert!(
        eventually(|| fds() <= fd0),
        "descriptors: {} before, {} after",
        fd0,
        fds()
    );
    // Finished I/O threads may wait for the next socket (at most `spare_io_threads`)...
    let spare = opts().spare_io_threads;
    assert!(
        eventually(|| threads() <= th0 + spare),
        "threads: {} before, {} after",
        th0,
        threads()
    );
    server.stop();
    // ...and end when the server stops.
    assert!(
        eventually(|| threads() <= th0),
        "threads: {} before, {} after stop",
        th0,
        threads()
    );
    rt.shutdown();
}

/// A connection's messages are handled on its I/O thread when its actor is idle
/// (`run_actor_on_io_thread`; a message that finds the actor still busy with `Connect` runs on
/// a scheduler worker instead, and is not counted), so the handler sees which thread served
/// each connection: sequential connections reuse a few threads instead of one new thread
/// each, and with `spare_io_threads: 0` they do not.
#[test]
fn finished_io_threads_serve_the_next_sockets() {
    #[derive(Clone)]
    struct Where(std::sync::Arc<std::sync::Mutex<Vec<std::thread::ThreadId>>>);
    impl bridge::Handler for Where {
        fn on_message(&mut self, conn: &bridge::Conn, msg: bridge::Data) {
            let t = std::thread::current();
            if t.name() == Some("tern-ws-io") {
                self.0.lock().unwrap().push(t.id());
            }
            let _ = conn.send_payload(msg.as_payload());
        }
    }
    // (messages handled on I/O threads, distinct I/O threads among them)
    let served = |spare: usize| {
        let rt = rt();
        let seen = Where(Default::default());
        let o = bridge::Options {
            spare_io_threads: spare,
            ..opts()
        };
        let server = bridge::serve(&rt, seen.clone(), 0, o).unwrap();
        for i in 0..40 {
            let mut c = connect(server.port(), "/");
            c.send(Message::text(format!("m{i}"))).unwrap();
            assert_eq!(recv(&mut c), Message::text(format!("m{i}")));
            c.close(None).unwrap();
            let _ = recv_close(&mut c);
            drop(c);
            // The next connection comes once this one's thread is free again.
            assert!(eventually(|| server.connection_count() == 0));
        }
        server.stop();
        rt.shutdown();
        let mut ids = seen.0.lock().unwrap().clone();
        let on_io = ids.len();
        ids.sort_by_key(|t| format!("{t:?}"));
        ids.dedup();
        (on_io, ids.len())
    };
    let (on_io, threads) = served(64);
    // Nearly every message finds its actor idle; fewer would make the check say little.
    assert!(
        on_io >= 20,
        "only {on_io} of 40 messages ran on an I/O thread"
    );
    // Loose: a socket that arrives before the last thread is back in the pool gets a new one.
    assert!(
        threads * 2 < on_io,
        "{on_io} connections' messages ran on {threads} I/O threads"
    );
    let (on_io, threads) = served(0);
    assert!(
        on_io >= 20,
        "only {on_io} of 40 messages ran on an I/O thread"
    );
    assert_eq!(
        threads, on_io,
        "without spares every connection has a new thread"
    );
}
