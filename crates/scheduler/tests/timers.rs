//! `send_after`, `cancel_timer`, and timers that must not leak.

mod common;

use std::time::{Duration, Instant};

use common::{recv, runtime};
use scheduler::{Context, ExitReason, Pid, Process, Step};

#[test]
fn send_after_delivers_after_the_delay_in_order() {
    let rt = runtime(1);
    let (me, mb) = rt.mailbox();
    let start = Instant::now();
    rt.send_after(Duration::from_millis(40), me, 2u32);
    rt.send_after(Duration::from_millis(10), me, 1u32);
    assert_eq!(recv::<u32>(&mb), 1);
    assert!(start.elapsed() >= Duration::from_millis(10));
    assert_eq!(recv::<u32>(&mb), 2);
    assert!(start.elapsed() >= Duration::from_millis(40));
    rt.shutdown();
}

#[test]
fn cancel_timer_prevents_delivery() {
    let rt = runtime(1);
    let (me, mb) = rt.mailbox();
    let t = rt.send_after(Duration::from_millis(20), me, "cancelled");
    let u = rt.send_after(Duration::from_millis(40), me, "kept");
    assert!(rt.cancel_timer(t));
    assert!(!rt.cancel_timer(t));
    assert_eq!(recv::<&str>(&mb), "kept");
    assert!(!rt.cancel_timer(u), "already fired");
    assert_eq!(rt.pending_timers(), 0);
    rt.shutdown();
}

#[test]
fn send_after_to_a_dead_pid_is_harmless() {
    let rt = runtime(1);
    let (me, mb) = rt.mailbox();
    rt.send_after(Duration::from_millis(1), Pid::NONE, 1u8);
    rt.send_after(Duration::from_millis(5), me, 2u8);
    assert_eq!(recv::<u8>(&mb), 2);
    rt.shutdown();
}

/// Re-waits with a fresh far deadline after every message.
struct Rearm {
    n: u32,
}

impl Process for Rearm {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        while let Some(m) = cx.recv() {
            if let Ok(report) = m.downcast::<Pid>() {
                cx.send(report, self.n);
                return Step::Exit(ExitReason::Normal);
            }
            self.n += 1;
        }
        Step::Wait {
            deadline: Some(
                Instant::now()
                    + Duration::from_secs(3600)
                    + Duration::from_nanos(u64::from(self.n)),
            ),
        }
    }
}

#[test]
fn receive_timeouts_that_never_fire_do_not_pile_up() {
    let rt = runtime(1);
    let (me, mb) = rt.mailbox();
    let p = rt.spawn(Rearm { n: 0 });
    for i in 0..5_000u32 {
        rt.send(p, i);
    }
    rt.send(p, me);
    assert_eq!(recv::<u32>(&mb), 5_000);
    // The Down comes after the exit path cancelled the last armed timer.
    mb.monitor(p);
    assert!(matches!(
        common::recv_any(&mb),
        scheduler::Message::Down { .. }
    ));
    assert_eq!(rt.pending_timers(), 0);
    rt.shutdown();
}

#[test]
fn shutdown_drops_pending_timers() {
    let rt = runtime(1);
    let (me, _mb) = rt.mailbox();
    rt.send_after(Duration::from_secs(3600), me, 1u8);
    let t = Instant::now();
    rt.shutdown();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(rt.pending_timers(), 0);
    rt.send_after(Duration::from_secs(1), me, 2u8);
    assert_eq!(rt.pending_timers(), 0, "no timers are kept after shutdown");
}
