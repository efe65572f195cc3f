//! The name registry.

mod common;

use common::{recv_any, runtime};
use scheduler::{Control, Error, ExitReason, Message};

#[test]
fn register_whereis_unregister() {
    let rt = runtime(1);
    let a = rt.spawn_fn(|_, _| Control::Continue);
    let b = rt.spawn_fn(|_, _| Control::Continue);
    rt.register("a", a).unwrap();
    assert_eq!(rt.whereis("a"), Some(a));
    assert_eq!(
        rt.register("a", b),
        Err(Error::NameTaken {
            name: "a".into(),
            owner: a
        })
    );
    assert_eq!(
        rt.register("other", a),
        Err(Error::AlreadyNamed {
            pid: a,
            name: "a".into()
        })
    );
    assert!(rt.unregister("a"));
    assert!(!rt.unregister("a"));
    assert_eq!(rt.whereis("a"), None);
    rt.register("a", b).unwrap();
    assert!(rt.send_named("a", 1u8));
    assert!(!rt.send_named("nobody", 1u8));
    rt.shutdown();
}

#[test]
fn name_is_freed_when_the_process_exits() {
    let rt = runtime(2);
    let (_me, mb) = rt.mailbox();
    let a = rt.spawn_fn(|_, _| Control::Stop(ExitReason::Normal));
    rt.register("svc", a).unwrap();
    mb.monitor(a);
    rt.send(a, ());
    assert!(matches!(recv_any(&mb), Message::Down { .. }));
    assert_eq!(rt.whereis("svc"), None);
    assert_eq!(rt.register("svc", a), Err(Error::NoProc { pid: a }));
    let b = rt.spawn_fn(|_, _| Control::Continue);
    rt.register("svc", b).unwrap();
    rt.shutdown();
}

#[test]
fn register_from_inside_a_process() {
    let rt = runtime(1);
    let (me, mb) = rt.mailbox();
    let a = rt.spawn_fn(move |cx, _| {
        let r = cx.register("me");
        cx.send(me, r.is_ok());
        Control::Continue
    });
    rt.send(a, ());
    assert!(common::recv::<bool>(&mb));
    assert_eq!(rt.whereis("me"), Some(a));
    rt.shutdown();
}
