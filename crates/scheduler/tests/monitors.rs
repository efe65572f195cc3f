//! Monitors: down messages, exactly once, noproc, demonitor, spawn_monitor.

mod common;

use std::time::Duration;

use common::{recv, recv_any, runtime};
use scheduler::{Context, Control, ExitReason, Message, Pid, Process, Step};

#[test]
fn down_arrives_once_per_monitor() {
    let rt = runtime(2);
    let (_me, mb) = rt.mailbox();
    let a = rt.spawn_fn(|_, _| Control::Stop(ExitReason::crashed("bye")));
    let m1 = mb.monitor(a);
    let m2 = mb.monitor(a);
    assert_ne!(m1, m2);
    rt.send(a, ());
    let mut refs = Vec::new();
    for _ in 0..2 {
        match recv_any(&mb) {
            Message::Down {
                monitor,
                pid,
                reason,
            } => {
                assert_eq!(pid, a);
                assert!(matches!(&reason, ExitReason::Crashed(m) if &**m == "bye"));
                refs.push(monitor);
            }
            other => panic!("{other:?}"),
        }
    }
    refs.sort();
    assert_eq!(refs, vec![m1, m2]);
    assert!(
        mb.recv_timeout(Duration::from_millis(50)).is_none(),
        "no third Down"
    );
    rt.shutdown();
}

#[test]
fn monitor_of_dead_pid_is_noproc_at_once() {
    let rt = runtime(1);
    let (_me, mb) = rt.mailbox();
    let m = mb.monitor(Pid::NONE);
    match mb.try_recv() {
        Some(Message::Down {
            monitor,
            pid,
            reason,
        }) => {
            assert_eq!((monitor, pid), (m, Pid::NONE));
            assert!(matches!(reason, ExitReason::NoProc));
        }
        other => panic!("{other:?}"),
    }
    rt.shutdown();
}

#[test]
fn demonitor_suppresses_down() {
    let rt = runtime(2);
    let (_me, mb) = rt.mailbox();
    let a = rt.spawn_fn(|_, _| Control::Stop(ExitReason::Normal));
    let b = rt.spawn_fn(|_, _| Control::Stop(ExitReason::Normal));
    let ma = mb.monitor(a);
    let mb_ref = mb.monitor(b);
    mb.demonitor(ma);
    rt.send(a, ());
    rt.send(b, ());
    match recv_any(&mb) {
        Message::Down { monitor, .. } => assert_eq!(monitor, mb_ref),
        other => panic!("{other:?}"),
    }
    assert!(mb.recv_timeout(Duration::from_millis(50)).is_none());
    rt.shutdown();
}

/// Monitors and kills `target`, waits until the Down is in its mailbox, then demonitors
/// and reports how many messages are left.
struct Flusher {
    target: Pid,
    report: Pid,
    mref: Option<scheduler::MonitorRef>,
}

impl Process for Flusher {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        match self.mref {
            None => {
                self.mref = Some(cx.monitor(self.target));
                cx.exit(self.target, ExitReason::Killed);
                Step::WAIT
            }
            Some(r) => {
                // Woken: the Down is in the mailbox now (nothing else is sent to us).
                assert_eq!(cx.mailbox_len(), 1);
                cx.demonitor(r);
                let left = cx.mailbox_len();
                cx.send(self.report, left);
                Step::Exit(ExitReason::Normal)
            }
        }
    }
}

#[test]
fn demonitor_flushes_a_down_already_received() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let target = rt.spawn_fn(|_, _| Control::Continue);
    rt.spawn(Flusher {
        target,
        report: me,
        mref: None,
    });
    assert_eq!(recv::<usize>(&mb), 0);
    rt.shutdown();
}

struct Child;
impl Process for Child {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        match cx.recv() {
            Some(_) => Step::Exit(ExitReason::custom("done")),
            None => Step::WAIT,
        }
    }
}

#[test]
fn spawn_monitor_from_a_process() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let parent = rt.spawn_fn(move |cx, m| {
        match m {
            Message::Down { pid, reason, .. } => cx.send(me, (pid, format!("{reason}"))),
            m if m.is::<()>() => {
                let (child, _) = cx.spawn_monitor(Child);
                cx.send(child, ());
            }
            _ => {}
        }
        Control::Continue
    });
    rt.send(parent, ());
    let (_child, reason) = recv::<(Pid, String)>(&mb);
    assert_eq!(reason, "done");
    rt.shutdown();
}
