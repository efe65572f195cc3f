//! `spawn_link` / `spawn_monitor` of a child that exits at once, possibly on the other worker
//! before the parent's call returns: the parent must get the child's real reason, never a
//! made-up `NoProc` (regression: the parent once checked "is the child still in the table?").
//! The window is a few instructions wide, so this is a stress test: it caught the bug in the
//! VM's programs under load, and fails here only when the OS preempts a parent inside it.

mod common;

use common::{recv, runtime};
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
