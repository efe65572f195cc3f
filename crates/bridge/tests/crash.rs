//! A panic in on_message: that socket gets 1011, on_close still runs (1011), the connection
//! leaves its rooms, linked actors get the exit signal; the other sockets go on.

mod common;
use common::*;

use bridge::Data;
use tungstenite::Message;

#[test]
fn panic_closes_1011_runs_on_close_leaves_rooms_and_signals_links() {
    let rt = rt();
    let (mut h, rx) = Recorder::new();
    h.panic_on = Some("boom".into());
    let conns = h.conns.clone();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();

    let mut victim = connect(server.port(), "/");
    next(&rx);
    let mut other = connect(server.port(), "/");
    next(&rx);
    let (vconn, oconn) = {
        let c = conns.lock().unwrap();
        (c[0].clone(), c[1].clone())
    };
    vconn.join("lobby");
    oconn.join("lobby");
    assert_eq!(server.rooms().member_count("lobby"), 2);

    // A thread with a mailbox links to the victim's actor and sees it crash.
    let (_mpid, mbox) = rt.mailbox();
    mbox.link(vconn.pid().unwrap());

    victim.send(Message::text("boom")).unwrap();
    assert_eq!(recv_close(&mut victim), Some(1011));
    assert_eq!(
        until(&rx, |r| matches!(r, Rec::Close { .. })),
        Rec::Close {
            code: 1011,
            reason: "internal error".into()
        }
    );
    let exit = mbox.recv_timeout(WAIT).expect("exit signal");
    match exit {
        scheduler::Message::Exit { reason, .. } => assert!(
            matches!(reason, scheduler::ExitReason::Crashed(_)),
            "{reason:?}"
        ),
        m => panic!("expected an exit signal, got {m:?}"),
    }
    assert_eq!(server.rooms().members("lobby"), vec![oconn.clone()]);

    // The other connection is untouched.
    other.send(Message::text("still here")).unwrap();
    assert_eq!(
        until(&rx, |r| matches!(r, Rec::Message(_))),
        Rec::Message(Data::Text("still here".into()))
    );
    assert_eq!(recv(&mut other), Message::text("still here"));
    assert!(eventually(|| server.connection_count() == 1));
    server.stop();
    rt.shutdown();
}
