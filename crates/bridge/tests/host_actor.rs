//! The host mode (`serve_with`): the host spawns its own actor per connection and handles
//! the events itself (as the VM does). If that actor dies, its connection is closed: 1011
//! after a crash, 1000 after a normal exit.

mod common;
use common::*;

use bridge::{Event, EventKind};
use scheduler::{Control, ExitReason};
use tungstenite::Message;

fn host_actor(
    rt: &scheduler::Runtime,
) -> impl Fn(bridge::Conn) -> scheduler::Pid + Send + Sync + 'static {
    let rt = rt.clone();
    move |_conn| {
        rt.spawn_fn(|_cx, msg| match Event::from_message(msg) {
            Ok(ev) => {
                let (conn, kind) = ev.into_parts();
                match kind {
                    EventKind::Connect => {
                        if conn.path() == "/no" {
                            conn.reject(404).unwrap();
                            return Control::Stop(ExitReason::Normal);
                        }
                        conn.accept().unwrap();
                        Control::Continue
                    }
                    EventKind::Message(d) => match d {
                        bridge::Data::Text(t) if t == "crash" => {
                            Control::Stop(ExitReason::crashed("asked to"))
                        }
                        bridge::Data::Text(t) if t == "quit" => Control::Stop(ExitReason::Normal),
                        d => {
                            conn.send_payload(d.as_payload()).unwrap();
                            Control::Continue
                        }
                    },
                    EventKind::Closed { .. } => Control::Stop(ExitReason::Normal),
                    _ => Control::Continue,
                }
            }
            Err(_) => Control::Continue,
        })
    }
}

#[test]
fn host_actors_get_events_and_their_death_closes_the_socket() {
    let rt = rt();
    let server = bridge::serve_with(&rt, host_actor(&rt), 0, None, opts()).unwrap();

    let mut a = connect(server.port(), "/");
    a.send(Message::text("hi")).unwrap();
    assert_eq!(recv(&mut a), Message::text("hi"));
    a.send(Message::text("crash")).unwrap();
    assert_eq!(recv_close(&mut a), Some(1011));

    let mut b = connect(server.port(), "/");
    b.send(Message::text("quit")).unwrap();
    assert_eq!(recv_close(&mut b), Some(1000));

    match try_connect(server.port(), "/no") {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 404),
        other => panic!("expected 404, got {:?}", other.map(|_| ())),
    }
    assert!(eventually(|| server.connection_count() == 0));
    server.stop();
    rt.shutdown();
}
