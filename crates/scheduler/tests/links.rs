//! Links and exit signals: propagation, trapping, normal exits, kill, noproc, unlink,
//! panics.

mod common;

use common::{recv, recv_any, runtime};
use scheduler::{Context, Control, ExitReason, Message, Pid, Process, Step};

/// Links to `target` on its first resume, reports "linked", then handles messages:
/// `"crash"` panics, `"stop"` exits normally, `("exit", reason)` exits with it.
struct Linker {
    target: Option<Pid>,
    report: Pid,
    trap: bool,
}

impl Process for Linker {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        if let Some(t) = self.target.take() {
            cx.trap_exit(self.trap);
            cx.link(t);
            cx.send(self.report, (cx.pid(), "linked"));
        }
        while let Some(m) = cx.recv() {
            match m {
                Message::Exit { from, reason } => cx.send(self.report, (from, reason)),
                m => match m.downcast::<&'static str>() {
                    Ok("crash") => panic!("boom"),
                    Ok("stop") => return Step::Exit(ExitReason::Normal),
                    _ => {}
                },
            }
        }
        Step::WAIT
    }
}

fn idle(rt: &scheduler::Runtime) -> Pid {
    rt.spawn_fn(|_, m| match m.downcast::<&'static str>() {
        Ok("crash") => panic!("idle crashed"),
        Ok("stop") => Control::Stop(ExitReason::Normal),
        _ => Control::Continue,
    })
}

fn down_reason(mb: &scheduler::Mailbox, pid: Pid) -> ExitReason {
    match recv_any(mb) {
        Message::Down { pid: p, reason, .. } if p == pid => reason,
        other => panic!("expected Down for {pid}, got {other:?}"),
    }
}

#[test]
fn crash_propagates_to_linked_process() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let a = idle(&rt);
    let b = rt.spawn(Linker {
        target: Some(a),
        report: me,
        trap: false,
    });
    assert_eq!(recv::<(Pid, &str)>(&mb), (b, "linked"));
    mb.monitor(a);
    mb.monitor(b);
    rt.send(a, "crash");
    let ra = down_reason(&mb, a);
    assert!(
        matches!(&ra, ExitReason::Crashed(m) if &**m == "idle crashed"),
        "{ra:?}"
    );
    let rb = down_reason(&mb, b);
    assert!(
        matches!(&rb, ExitReason::Crashed(m) if &**m == "idle crashed"),
        "{rb:?}"
    );
    rt.shutdown();
}

#[test]
fn trapping_process_gets_exit_message_once() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let a = idle(&rt);
    let b = rt.spawn(Linker {
        target: Some(a),
        report: me,
        trap: true,
    });
    assert_eq!(recv::<(Pid, &str)>(&mb), (b, "linked"));
    rt.send(a, "crash");
    let (from, reason) = recv::<(Pid, ExitReason)>(&mb);
    assert_eq!(from, a);
    assert!(matches!(reason, ExitReason::Crashed(_)));
    assert!(rt.is_alive(b));
    // Exactly once: nothing else arrives (a probe message overtakes nothing). Monitor
    // before the stop: monitored after it, a fast `b` may be gone already (Down: NoProc).
    mb.monitor(b);
    rt.send(b, "stop");
    assert!(down_reason(&mb, b).is_normal());
    rt.shutdown();
}

#[test]
fn normal_exit_does_not_kill_linked_process() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let a = idle(&rt);
    let b = rt.spawn(Linker {
        target: Some(a),
        report: me,
        trap: false,
    });
    assert_eq!(recv::<(Pid, &str)>(&mb), (b, "linked"));
    mb.monitor(a);
    rt.send(a, "stop");
    assert!(down_reason(&mb, a).is_normal());
    // b is still there: it answers a crash request by crashing, not by having died already.
    mb.monitor(b);
    rt.send(b, "crash");
    assert!(matches!(down_reason(&mb, b), ExitReason::Crashed(_)));
    rt.shutdown();
}

#[test]
fn link_to_dead_pid_fires_noproc() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let dead = idle(&rt);
    mb.monitor(dead);
    rt.exit(dead, ExitReason::Killed);
    assert!(matches!(down_reason(&mb, dead), ExitReason::Killed));
    // Trapping: an Exit message with NoProc.
    let b = rt.spawn(Linker {
        target: Some(dead),
        report: me,
        trap: true,
    });
    assert_eq!(recv::<(Pid, &str)>(&mb), (b, "linked"));
    let (from, reason) = recv::<(Pid, ExitReason)>(&mb);
    assert_eq!(from, dead);
    assert!(matches!(reason, ExitReason::NoProc));
    // Not trapping: the linker dies with NoProc.
    let c = rt.spawn(Linker {
        target: Some(dead),
        report: me,
        trap: false,
    });
    mb.monitor(c);
    // (the "linked" report may or may not come first; the Down decides)
    loop {
        match recv_any(&mb) {
            Message::Down { pid, reason, .. } if pid == c => {
                assert!(matches!(reason, ExitReason::NoProc));
                break;
            }
            _ => continue,
        }
    }
    // A pid that never existed behaves the same.
    mb.link(Pid::NONE);
    match recv_any(&mb) {
        Message::Exit { from, reason } => {
            assert_eq!(from, Pid::NONE);
            assert!(matches!(reason, ExitReason::NoProc));
        }
        other => panic!("{other:?}"),
    }
    rt.shutdown();
}

#[test]
fn kill_is_untrappable_but_linked_trappers_see_killed() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let a = rt.spawn_fn(|cx, _| {
        cx.trap_exit(true);
        Control::Continue
    });
    rt.send(a, ()); // turn trapping on
    let b = rt.spawn(Linker {
        target: Some(a),
        report: me,
        trap: true,
    });
    assert_eq!(recv::<(Pid, &str)>(&mb), (b, "linked"));
    mb.monitor(a);
    rt.exit(a, ExitReason::Killed);
    assert!(matches!(down_reason(&mb, a), ExitReason::Killed));
    let (from, reason) = recv::<(Pid, ExitReason)>(&mb);
    assert_eq!(from, a);
    assert!(matches!(reason, ExitReason::Killed));
    rt.shutdown();
}

#[test]
fn exit_signal_with_custom_reason_and_trapping() {
    let rt = runtime(2);
    let (_me, mb) = rt.mailbox();
    let a = idle(&rt);
    mb.monitor(a);
    rt.exit(a, ExitReason::Normal); // ignored: not trapping
    rt.exit(a, ExitReason::custom("shutdown".to_string()));
    let r = down_reason(&mb, a);
    assert_eq!(
        r.custom_ref::<String>().map(String::as_str),
        Some("shutdown")
    );
    assert_eq!(format!("{r:?}"), "Custom(\"shutdown\")");
    rt.shutdown();
}

#[test]
fn unlink_stops_propagation() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let a = idle(&rt);
    let b = rt.spawn_fn(move |cx, m| {
        match m.downcast::<(&'static str, Pid)>() {
            Ok(("link", p)) => cx.link(p),
            Ok(("unlink", p)) => {
                cx.unlink(p);
                cx.send(me, "unlinked");
            }
            _ => {}
        }
        Control::Continue
    });
    rt.send(b, ("link", a));
    rt.send(b, ("unlink", a));
    assert_eq!(recv::<&str>(&mb), "unlinked");
    mb.monitor(a);
    rt.send(a, "crash");
    assert!(matches!(down_reason(&mb, a), ExitReason::Crashed(_)));
    mb.monitor(b);
    rt.exit(b, ExitReason::custom("probe"));
    assert_eq!(format!("{:?}", down_reason(&mb, b)), "Custom(\"probe\")");
    rt.shutdown();
}

#[test]
fn spawn_link_from_a_process_and_mailbox_sees_exit() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let parent = rt.spawn_fn(move |cx, m| {
        if m.is::<()>() {
            let child = cx.spawn_link(scheduler_helpers::Crasher);
            cx.send(me, child);
        }
        Control::Continue
    });
    mb.link(parent);
    rt.send(parent, ());
    let child: Pid = recv(&mb);
    match recv_any(&mb) {
        Message::Exit { from, reason } => {
            assert_eq!(from, parent);
            assert!(
                matches!(&reason, ExitReason::Crashed(m) if &**m == "crasher"),
                "{reason:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!rt.is_alive(child));
    rt.shutdown();
}

mod scheduler_helpers {
    use scheduler::{Context, Process, Step};
    pub struct Crasher;
    impl Process for Crasher {
        fn resume(&mut self, _: &mut Context<'_>) -> Step {
            panic!("crasher")
        }
    }
}

#[test]
fn dropping_a_mailbox_exits_normally() {
    let rt = runtime(1);
    let (_me, mb) = rt.mailbox();
    let (other, mb2) = rt.mailbox();
    mb.monitor(other);
    mb.link(other);
    drop(mb2);
    let mut got_down = false;
    let mut got_exit = false;
    while !(got_down && got_exit) {
        match recv_any(&mb) {
            Message::Down { pid, reason, .. } => {
                assert_eq!(pid, other);
                assert!(reason.is_normal());
                got_down = true;
            }
            Message::Exit { from, reason } => {
                assert_eq!(from, other);
                assert!(reason.is_normal());
                got_exit = true;
            }
            m => panic!("{m:?}"),
        }
    }
    assert!(!rt.is_alive(other));
    rt.shutdown();
}

/// Never receives: only burns its budget and yields.
struct Busy;
impl Process for Busy {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        while cx.consume(1) {}
        Step::Yield
    }
}

/// Traps exits, says so, then never receives: waits forever.
struct Deaf {
    report: Option<Pid>,
}
impl Process for Deaf {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        if let Some(report) = self.report.take() {
            cx.trap_exit(true);
            cx.send(report, "trapping");
        }
        Step::WAIT
    }
}

#[test]
fn exit_signals_reach_processes_that_never_receive() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let busy = rt.spawn(Busy);
    mb.monitor(busy);
    rt.exit(busy, ExitReason::custom("stop"));
    assert_eq!(format!("{:?}", down_reason(&mb, busy)), "Custom(\"stop\")");
    let deaf = rt.spawn(Deaf { report: Some(me) });
    assert_eq!(recv::<&str>(&mb), "trapping");
    mb.monitor(deaf);
    rt.exit(deaf, ExitReason::custom("trapped")); // becomes a message it never reads
    rt.exit(deaf, ExitReason::Killed);
    assert!(matches!(down_reason(&mb, deaf), ExitReason::Killed));
    rt.shutdown();
}

/// Panics when dropped: stands for user code misbehaving in `Drop`.
struct Grenade;
impl Drop for Grenade {
    fn drop(&mut self) {
        panic!("grenade dropped");
    }
}

#[test]
fn panicking_drops_do_not_break_exits_or_timers() {
    let rt = runtime(1);
    let (me, mb) = rt.mailbox();
    // A process that never reads its mail exits with a Grenade in its mailbox.
    let p = rt.spawn(Deaf { report: Some(me) });
    assert_eq!(recv::<&str>(&mb), "trapping");
    mb.monitor(p);
    rt.send(p, Grenade);
    rt.exit(p, ExitReason::Killed);
    assert!(matches!(down_reason(&mb, p), ExitReason::Killed));
    // A timer whose target is dead drops its Grenade on the timer thread; timers go on.
    rt.send_after(std::time::Duration::from_millis(1), Pid::NONE, Grenade);
    rt.send_after(std::time::Duration::from_millis(20), me, "still ticking");
    assert_eq!(recv::<&str>(&mb), "still ticking");
    // The single worker survived: it still runs processes.
    let echo = rt.spawn_fn(move |cx, _| {
        cx.send(me, "alive");
        Control::Continue
    });
    rt.send(echo, ());
    assert_eq!(recv::<&str>(&mb), "alive");
    rt.shutdown();
}
