//! `spawn_link` / `spawn_monitor` of a child that exits at once, possibly on the other worker
//! before the parent's call returns: the parent must get the child's real reason, never a
//! made-up `NoProc` (regression: the parent once checked "is the child still in the table?").
//! The window is a few instructions wide, so this is a stress test: it caught the bug in the
//! VM's programs under load, and fails here only when the OS preempts a parent inside it.
//!
//! The same for a thread's `Mailbox` (the VM's main program and REPL), where linking or
//! monitoring after a plain spawn loses the race often: there the child is usually picked
//! up by an idle worker while the spawning thread is still between the two calls.

mod common;

use std::time::Duration;

use common::{recv, recv_any, runtime};
use scheduler::{Context, ExitReason, Message, Pid, Process, Step};

struct Crasher;

impl Process for Crasher {
    fn resume(&mut self, _cx: &mut Context<'_>) -> Step {
        panic!("child crashed at once");
    }
}

/// Spawns a `Crasher` linked (or monitored) on its first resume, then reports the reason of
/// the exit (or down) message it gets.
struct Parent {
    report: Pid,
    monitor: bool,
    started: bool,
}

impl Process for Parent {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        if !self.started {
            self.started = true;
            cx.trap_exit(true);
            if self.monitor {
                cx.spawn_monitor(Crasher);
            } else {
                cx.spawn_link(Crasher);
            }
        }
        while let Some(m) = cx.recv() {
            match m {
                Message::Exit { reason, .. } | Message::Down { reason, .. } => {
                    cx.send(self.report, reason);
                    return Step::Exit(ExitReason::Normal);
                }
                _ => {}
            }
        }
        Step::WAIT
    }
}

fn check(monitor: bool) {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    const PARENTS: usize = 2_000;
    for _ in 0..PARENTS {
        rt.spawn(Parent {
            report: me,
            monitor,
            started: false,
        });
    }
    for _ in 0..PARENTS {
        let reason: ExitReason = recv(&mb);
        assert!(
            matches!(reason, ExitReason::Crashed(_)),
            "expected the child's crash, got {reason:?}"
        );
    }
    rt.shutdown();
}

#[test]
fn spawn_link_reports_the_real_reason_of_a_child_that_exits_at_once() {
    check(false);
}

#[test]
fn spawn_monitor_reports_the_real_reason_of_a_child_that_exits_at_once() {
    check(true);
}

/// Exits at once with a reason of its own (no panic: no noise on stderr).
struct Quitter;

impl Process for Quitter {
    fn resume(&mut self, _cx: &mut Context<'_>) -> Step {
        Step::Exit(ExitReason::custom("quit at once"))
    }
}

fn assert_quit(reason: &ExitReason, round: usize) {
    assert!(
        reason.custom_ref::<&str>() == Some(&"quit at once"),
        "round {round}: expected the child's own reason, got {reason:?}"
    );
}

/// From threads (2 of them, for 2 workers: the OS interleaves them with the workers), each
/// with its own mailbox: spawn a `Quitter` linked or monitored, then wait for its exit or
/// down message, many times.
fn check_mailbox(monitor: bool) {
    let rt = runtime(2);
    const THREADS: usize = 2;
    const ROUNDS: usize = 10_000;
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let rt = &rt;
            s.spawn(move || {
                let (_me, mb) = rt.mailbox();
                for round in 0..ROUNDS {
                    if monitor {
                        let (child, mref) = mb.spawn_monitor(Quitter);
                        match recv_any(&mb) {
                            Message::Down {
                                monitor,
                                pid,
                                reason,
                            } => {
                                assert_eq!((monitor, pid), (mref, child), "round {round}");
                                assert_quit(&reason, round);
                            }
                            other => panic!("round {round}: {other:?}"),
                        }
                    } else {
                        let child = mb.spawn_link(Quitter);
                        match recv_any(&mb) {
                            Message::Exit { from, reason } => {
                                assert_eq!(from, child, "round {round}");
                                assert_quit(&reason, round);
                            }
                            other => panic!("round {round}: {other:?}"),
                        }
                    }
                }
            });
        }
    });
    rt.shutdown();
}

#[test]
fn mailbox_spawn_link_reports_the_real_reason_of_a_child_that_exits_at_once() {
    check_mailbox(false);
}

#[test]
fn mailbox_spawn_monitor_reports_the_real_reason_of_a_child_that_exits_at_once() {
    check_mailbox(true);
}

/// After shutdown the child never exists: the link or monitor fires at once with `NoProc`,
/// exactly once.
#[test]
fn mailbox_spawn_link_and_monitor_after_shutdown_are_noproc() {
    let rt = runtime(1);
    let (_me, mb) = rt.mailbox();
    rt.shutdown();
    let child = mb.spawn_link(Quitter);
    match mb.try_recv() {
        Some(Message::Exit { from, reason }) => {
            assert_eq!(from, child);
            assert!(matches!(reason, ExitReason::NoProc), "{reason:?}");
        }
        other => panic!("{other:?}"),
    }
    let (child, mref) = mb.spawn_monitor(Quitter);
    match mb.try_recv() {
        Some(Message::Down {
            monitor,
            pid,
            reason,
        }) => {
            assert_eq!((monitor, pid), (mref, child));
            assert!(matches!(reason, ExitReason::NoProc), "{reason:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(mb.recv_timeout(Duration::from_millis(20)).is_none());
    assert!(!rt.is_alive(child));
}

/// A mailbox's `spawn_monitor` gives a working monitor: `demonitor` suppresses its `Down`.
#[test]
fn mailbox_spawn_monitor_then_demonitor() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let (child, mref) = mb.spawn_monitor(Waiter);
    mb.demonitor(mref);
    rt.send(child, me);
    assert_eq!(recv::<&str>(&mb), "bye");
    assert!(
        mb.recv_timeout(Duration::from_millis(50)).is_none(),
        "no Down after demonitor"
    );
    rt.shutdown();
}

/// Waits for a pid, says "bye" to it, and crashes.
struct Waiter;

impl Process for Waiter {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        match cx.recv().map(|m| m.downcast::<Pid>()) {
            Some(Ok(to)) => {
                cx.send(to, "bye");
                Step::Exit(ExitReason::crashed("waiter done"))
            }
            _ => Step::WAIT,
        }
    }
}
