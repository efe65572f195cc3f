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
    assert!(
        eventually(|| threads() <= th0),
        "threads: {} before, {} after",
        th0,
        threads()
    );
    server.stop();
    rt.shutdown();
}
