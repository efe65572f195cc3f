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

/// `on_exit` hooks: run once with the exit reason (crash, kill, normal), at once with
/// `NoProc` for a dead pid, a panic in one does not stop the others, and setting one up
/// does not wake the process.
#[test]
fn on_exit_hooks_run_once_with_the_reason() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let rt1 = rt.clone();
    let report = move |tag: &'static str| {
        let rt2 = rt1.clone();
        move |pid: Pid, reason: &ExitReason| rt2.send(me, (tag, pid, reason.clone()))
    };

    // A crash: the hook sees the crash reason; the process was not woken by the setup.
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let a = rt.spawn_fn(move |_, m| {
        r.fetch_add(1, Ordering::SeqCst);
        match m.downcast::<&str>() {
            Ok(_) => Control::Stop(ExitReason::crashed("bye")),
            Err(_) => Control::Continue,
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    rt.on_exit(a, report("first"));
    rt.on_exit(a, |_, _| panic!("a panicking hook is contained"));
    rt.on_exit(a, report("second"));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(runs.load(Ordering::SeqCst), 0, "on_exit woke the process");
    rt.send(a, "crash");
    for tag in ["first", "second"] {
        let (t, pid, reason) = recv::<(&str, Pid, ExitReason)>(&mb);
        assert_eq!((t, pid), (tag, a));
        assert!(
            matches!(&reason, ExitReason::Crashed(m) if &**m == "bye"),
            "{reason:?}"
        );
    }

    // Killed while idle (the hook is still unread in its inbox when it dies).
    let b = rt.spawn_fn(|_, _| Control::Continue);
    rt.on_exit(b, report("killed"));
    rt.exit(b, ExitReason::Killed);
    let (t, pid, reason) = recv::<(&str, Pid, ExitReason)>(&mb);
    assert_eq!((t, pid), ("killed", b));
    assert!(matches!(reason, ExitReason::Killed), "{reason:?}");

    // A dead pid: at once, on this thread, with NoProc.
    rt.on_exit(a, report("dead"));
    let (t, pid, reason) = recv::<(&str, Pid, ExitReason)>(&mb);
    assert_eq!((t, pid), ("dead", a));
    assert!(matches!(reason, ExitReason::NoProc), "{reason:?}");

    // Nothing fires twice.
    assert!(mb.recv_timeout(Duration::from_millis(100)).is_none());
    rt.shutdown();
}
