//! Receive: timeouts, selective receive and its scan position, budgets.

mod common;

use std::time::{Duration, Instant};

use common::{recv, runtime};
use scheduler::{Context, Control, ExitReason, Message, Pid, Process, Step};

/// Waits for a `u32` with a timeout; reports `Some(n)` or `None` (timed out).
struct TimedRecv {
    report: Pid,
    timeout: Duration,
    deadline: Option<Instant>,
}

impl Process for TimedRecv {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.timeout);
        if let Some(m) = cx.recv_matching(|m| m.is::<u32>()) {
            cx.send(self.report, Some(m.downcast::<u32>().unwrap()));
            return Step::Exit(ExitReason::Normal);
        }
        if cx.timed_out() {
            cx.send(self.report, None::<u32>);
            return Step::Exit(ExitReason::Normal);
        }
        Step::Wait {
            deadline: Some(deadline),
        }
    }
}

#[test]
fn receive_times_out_after_the_deadline() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let start = Instant::now();
    let _p = rt.spawn(TimedRecv {
        report: me,
        timeout: Duration::from_millis(30),
        deadline: None,
    });
    assert_eq!(recv::<Option<u32>>(&mb), None);
    assert!(start.elapsed() >= Duration::from_millis(30));
    rt.shutdown();
}

#[test]
fn message_before_the_deadline_wins_and_unrelated_ones_do_not() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let p = rt.spawn(TimedRecv {
        report: me,
        timeout: Duration::from_secs(30),
        deadline: None,
    });
    mb.monitor(p);
    rt.send(p, "not a u32");
    rt.send(p, 7u32);
    assert_eq!(recv::<Option<u32>>(&mb), Some(7));
    // The Down comes after the exit path cancelled the armed timer.
    assert!(matches!(common::recv_any(&mb), Message::Down { .. }));
    assert_eq!(
        rt.pending_timers(),
        0,
        "the receive timer was cancelled at exit"
    );
    rt.shutdown();
}

#[test]
fn mailbox_recv_timeout() {
    let rt = runtime(1);
    let (_me, mb) = rt.mailbox();
    let t = Instant::now();
    assert!(mb.recv_timeout(Duration::from_millis(20)).is_none());
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert!(mb.try_recv().is_none());
    rt.shutdown();
}

/// Counts how many times its predicate looks at each message.
struct Selective {
    report: Pid,
    looks: std::collections::HashMap<u32, u32>,
}

impl Process for Selective {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        let looks = &mut self.looks;
        let got = cx.recv_matching(|m| {
            let n = *m.downcast_ref::<u32>().unwrap();
            *looks.entry(n).or_default() += 1;
            n == 0
        });
        if got.is_some() {
            // Then drain the rest in order with plain recv.
            let mut rest = Vec::new();
            while let Some(m) = cx.recv() {
                rest.push(m.downcast::<u32>().unwrap());
            }
            let max_looks = self.looks.values().copied().max().unwrap_or(0);
            cx.send(self.report, (rest, max_looks));
            return Step::Exit(ExitReason::Normal);
        }
        Step::WAIT
    }
}

#[test]
fn selective_receive_keeps_order_and_scans_each_message_once() {
    let rt = runtime(1);
    let (me, mb) = rt.mailbox();
    let p = rt.spawn(Selective {
        report: me,
        looks: Default::default(),
    });
    // Non-matching messages arrive one by one; each wakes the process, which must not
    // rescan the earlier ones.
    for n in 1..=200u32 {
        rt.send(p, n);
    }
    rt.send(p, 0u32);
    let (rest, max_looks) = recv::<(Vec<u32>, u32)>(&mb);
    assert_eq!(rest, (1..=200).collect::<Vec<_>>());
    assert_eq!(max_looks, 1, "a skipped message was rescanned");
    rt.shutdown();
}

#[test]
fn mailbox_selective_receive() {
    let rt = runtime(1);
    let (me, mb) = rt.mailbox();
    rt.send(me, 1u8);
    rt.send(me, "two");
    rt.send(me, 3u8);
    let m = mb.recv_matching(|m| m.is::<&str>(), None).unwrap();
    assert_eq!(m.downcast::<&str>().unwrap(), "two");
    assert_eq!(recv::<u8>(&mb), 1);
    assert_eq!(recv::<u8>(&mb), 3);
    assert!(mb
        .recv_matching(
            |m| m.is::<u64>(),
            Some(Instant::now() + Duration::from_millis(10))
        )
        .is_none());
    rt.shutdown();
}

/// Never waits: loops, yielding when the budget says so, until told to stop.
struct Spinner {
    yields: u64,
}

impl Process for Spinner {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        loop {
            if let Some(m) = cx.recv() {
                if m.is::<&str>() {
                    return Step::Exit(ExitReason::custom(self.yields));
                }
            }
            if !cx.consume(1) {
                self.yields += 1;
                return Step::Yield;
            }
        }
    }
}

#[test]
fn busy_processes_do_not_starve_others() {
    // One worker, two processes that never wait: the budget makes them yield, so a third
    // process still answers promptly.
    let rt = runtime(1);
    let (me, mb) = rt.mailbox();
    let s1 = rt.spawn(Spinner { yields: 0 });
    let s2 = rt.spawn(Spinner { yields: 0 });
    let echo = rt.spawn_fn(move |cx, m| {
        cx.send(me, m.downcast::<u32>().unwrap());
        Control::Continue
    });
    for i in 0..20u32 {
        rt.send(echo, i);
        assert_eq!(recv::<u32>(&mb), i);
    }
    mb.monitor(s1);
    mb.monitor(s2);
    rt.send(s1, "stop");
    rt.send(s2, "stop");
    for _ in 0..2 {
        match common::recv_any(&mb) {
            Message::Down { reason, .. } => {
                assert!(
                    reason.custom_ref::<u64>().is_some_and(|&y| y > 0),
                    "{reason:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    rt.shutdown();
}

/// A message a process sends to itself is in its mailbox at once: the next `recv` of the
/// same run takes it (the inbox's "known empty" hint must not hide it).
#[test]
fn a_message_to_self_is_received_in_the_same_run() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let pid = rt.spawn_fn(move |cx, m| {
        if m.is::<()>() {
            let ok = (0..100u32).all(|i| {
                let pid = cx.pid();
                cx.send(pid, i);
                cx.recv().and_then(|m| m.downcast::<u32>().ok()) == Some(i)
            });
            cx.send(me, ok);
        }
        scheduler::Control::Continue
    });
    rt.send(pid, ());
    assert!(recv::<bool>(&mb));
    rt.shutdown();
}
