//! Rooms: join, leave, broadcast, broadcast_except, members, cleanup on disconnect, empty
//! rooms vanish.

mod common;
use common::*;

use tungstenite::Message;

fn setup(
    n: usize,
) -> (
    scheduler::Runtime,
    bridge::Server,
    Vec<Client>,
    Vec<bridge::Conn>,
) {
    let rt = rt();
    let (mut h, rx) = Recorder::new();
    h.echo = false;
    let conns = h.conns.clone();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    let clients: Vec<Client> = (0..n)
        .map(|_| {
            let c = connect(server.port(), "/");
            next(&rx);
            c
        })
        .collect();
    let cs = conns.lock().unwrap().clone();
    std::mem::forget(rx);
    (rt, server, clients, cs)
}

#[test]
fn join_broadcast_except_leave_and_cleanup() {
    let (rt, server, mut clients, conns) = setup(3);
    let rooms = server.rooms().clone();
    for c in &conns {
        assert!(c.join("a"));
    }
    assert!(!conns[0].join("a"), "joining twice is a no-op");
    assert!(conns[0].join("b"));
    assert_eq!(rooms.member_count("a"), 3);
    assert_eq!(rooms.room_count(), 2);
    let mut mine = conns[0].rooms();
    mine.sort();
    assert_eq!(mine, vec!["a".to_string(), "b".to_string()]);

    assert_eq!(rooms.broadcast("a", "to all"), 3);
    for c in clients.iter_mut() {
        assert_eq!(recv(c), Message::text("to all"));
    }
    assert_eq!(rooms.broadcast_except("a", &b"\x01\x02"[..], &conns[1]), 2);
    assert_eq!(recv(&mut clients[0]), Message::binary(vec![1u8, 2]));
    assert_eq!(recv(&mut clients[2]), Message::binary(vec![1u8, 2]));

    assert!(conns[2].leave("a"));
    assert!(!conns[2].leave("a"));
    let mut ids: Vec<u64> = rooms.members("a").iter().map(|c| c.id()).collect();
    ids.sort();
    assert_eq!(ids, vec![conns[0].id(), conns[1].id()]);

    // Client 0 disconnects: it leaves a and b; b, now empty, vanishes.
    let c0 = clients.remove(0);
    drop(c0);
    assert!(eventually(
        || rooms.member_count("a") == 1 && rooms.room_count() == 1
    ));
    assert!(conns[0].rooms().is_empty());
    assert!(!conns[0].join("c"), "a closed connection cannot join");
    assert_eq!(rooms.room_count(), 1);
    assert_eq!(rooms.list(), vec![("a".to_string(), 1)]);
    assert!(bridge::servers()
        .iter()
        .any(|s| s.addr == server.local_addr() && s.rooms == vec![("a".to_string(), 1)]));

    // The last member leaving removes the room.
    assert!(conns[1].leave("a"));
    assert_eq!(rooms.room_count(), 0);
    assert_eq!(rooms.broadcast("a", "nobody"), 0);
    server.stop();
    rt.shutdown();
}

#[test]
fn many_threads_join_and_leave_at_once() {
    let (rt, server, _clients, conns) = setup(4);
    let rooms = server.rooms().clone();
    std::thread::scope(|s| {
        for (i, c) in conns.iter().enumerate() {
            let rooms = rooms.clone();
            s.spawn(move || {
                for k in 0..200 {
                    let r = format!("r{}", (k + i) % 7);
                    rooms.join(c, &r);
                    rooms.broadcast_except(&r, "x", c);
                    rooms.leave(c, &r);
                }
            });
        }
    });
    assert_eq!(
        rooms.room_count(),
        0,
        "every room emptied and vanished: {:?}",
        rooms.list()
    );
    server.stop();
    rt.shutdown();
}

/// Broadcasts made by handlers (on I/O threads, batched per read) arrive complete and in
/// order, also when many arrive in one read.
#[test]
fn handler_broadcasts_in_a_burst_arrive_in_order() {
    #[derive(Clone)]
    struct Relay;
    impl bridge::Handler for Relay {
        fn on_connect(&mut self, conn: &bridge::Conn) -> bridge::Decision {
            conn.join("burst");
            bridge::Decision::ACCEPT
        }
        fn on_message(&mut self, conn: &bridge::Conn, msg: bridge::Data) {
            conn.server_rooms()
                .broadcast_except("burst", msg.as_payload(), conn);
        }
    }
    let rt = rt();
    let server = bridge::serve(&rt, Relay, 0, opts()).unwrap();
    let mut members: Vec<Client> = (0..5).map(|_| connect(server.port(), "/")).collect();
    assert!(eventually(|| server.rooms().member_count("burst") == 5));
    let mut publisher = Raw::connect(server.port(), "/");
    assert!(eventually(|| server.rooms().member_count("burst") == 6));
    let n = 300;
    let mut burst = Vec::new();
    for i in 0..n {
        burst.extend(masked(true, 0x1, format!("{i}").as_bytes()));
    }
    std::io::Write::write_all(&mut publisher.s, &burst).unwrap(); // one write, many messages
    for m in members.iter_mut() {
        for i in 0..n {
            assert_eq!(recv(m), Message::text(format!("{i}")));
        }
    }
    server.stop();
    rt.shutdown();
}
