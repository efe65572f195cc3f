//! Spawn, send, receive, mailbox order, process listing, shutdown.

mod common;

use std::time::{Duration, Instant};

use common::{recv, runtime, WAIT};
use scheduler::{Context, Control, Pid, Process, Step};

#[test]
fn handler_actor_answers_and_stops() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let echo = rt.spawn_fn(move |cx, msg| match msg.downcast::<u32>() {
        Ok(0) => Control::Stop(scheduler::ExitReason::Normal),
        Ok(n) => {
            cx.send(me, n * 2);
            Control::Continue
        }
        Err(_) => Control::Continue,
    });
    assert!(rt.is_alive(echo));
    rt.send(echo, 21u32);
    assert_eq!(recv::<u32>(&mb), 42);
    let m = mb.monitor(echo);
    rt.send(echo, 0u32);
    match common::recv_any(&mb) {
        scheduler::Message::Down {
            monitor,
            pid,
            reason,
        } => {
            assert_eq!((monitor, pid), (m, echo));
            assert!(reason.is_normal());
        }
        other => panic!("expected Down, got {other:?}"),
    }
    assert!(!rt.is_alive(echo));
    rt.send(echo, 1u32); // a dead pid: silent no-op
    rt.shutdown();
}

#[test]
fn pids_are_fresh_and_display_like_erlang() {
    let rt = runtime(1);
    let a = rt.spawn_fn(|_, _| Control::Continue);
    let b = rt.spawn_fn(|_, _| Control::Continue);
    assert!(b > a);
    assert_eq!(a.to_string(), format!("<0.{}>", a.id()));
    assert_eq!(Pid::NONE.to_string(), "<0.0>");
    rt.shutdown();
}

#[test]
fn fifo_per_sender_from_many_threads() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    const SENDERS: u64 = 4;
    const EACH: u64 = 5_000;
    // The actor checks per-sender order and reports the total once everything arrived.
    let mut last = vec![None::<u64>; SENDERS as usize];
    let mut seen = 0u64;
    let sink = rt.spawn_fn(move |cx, msg| {
        let (s, i) = msg.downcast::<(u64, u64)>().expect("pair");
        let prev = last[s as usize].replace(i);
        assert!(
            prev.map_or(i == 0, |p| p + 1 == i),
            "sender {s}: {prev:?} then {i}"
        );
        seen += 1;
        if seen == SENDERS * EACH {
            cx.send(me, seen);
        }
        Control::Continue
    });
    let threads: Vec<_> = (0..SENDERS)
        .map(|s| {
            let rt = rt.clone();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    rt.send(sink, (s, i));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(recv::<u64>(&mb), SENDERS * EACH);
    assert!(rt.is_alive(sink), "the order assertion did not crash it");
    rt.shutdown();
}

/// A process written as a state machine over `resume`.
struct Counter {
    report_to: Pid,
    count: u32,
}

impl Process for Counter {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        while let Some(m) = cx.recv() {
            if let Some(&n) = m.downcast_ref::<u32>() {
                self.count += n;
                if self.count >= 10 {
                    cx.send(self.report_to, self.count);
                    return Step::Exit(scheduler::ExitReason::Normal);
                }
            }
        }
        Step::WAIT
    }
}

#[test]
fn state_machine_process() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let c = rt.spawn(Counter {
        report_to: me,
        count: 0,
    });
    for _ in 0..10 {
        rt.send(c, 1u32);
    }
    assert_eq!(recv::<u32>(&mb), 10);
    rt.shutdown();
}

#[test]
fn process_listing_and_count() {
    let rt = runtime(1);
    let (me, mb) = rt.mailbox();
    let a = rt.spawn_fn(|_, _| Control::Continue);
    let procs = rt.processes();
    assert!(procs.contains(&me) && procs.contains(&a));
    assert_eq!(rt.process_count(), 2);
    rt.exit(a, scheduler::ExitReason::Killed);
    let m = mb.monitor(a);
    let _ = m;
    let _ = common::recv_any(&mb);
    assert_eq!(rt.process_count(), 1);
    drop(mb);
    assert_eq!(rt.process_count(), 0);
    rt.shutdown();
}

#[test]
fn shutdown_joins_and_is_idempotent() {
    let rt = runtime(2);
    for _ in 0..100 {
        rt.spawn_fn(|_, _| Control::Continue);
    }
    let t = Instant::now();
    rt.shutdown();
    rt.shutdown();
    assert!(t.elapsed() < WAIT);
    assert_eq!(rt.process_count(), 0);
    let p = rt.spawn_fn(|_, _| Control::Continue);
    assert!(!rt.is_alive(p), "nothing runs after shutdown");
    rt.send(p, 1u8);
}

#[test]
fn shutdown_from_inside_a_process() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let p = rt.spawn_fn(move |cx, _| {
        cx.runtime().shutdown();
        cx.send(me, "stopped");
        Control::Continue
    });
    rt.send(p, ());
    // The message may or may not arrive (the table is drained), but nothing hangs.
    let _ = mb.recv_timeout(Duration::from_millis(200));
    rt.shutdown();
}

#[test]
fn send_inline_runs_on_the_calling_thread() {
    let rt = runtime(1);
    let (me, mb) = rt.mailbox();
    let caller = std::thread::current().id();
    let p = rt.spawn_fn(move |cx, msg| {
        let n = msg.downcast::<u32>().unwrap();
        cx.send(me, (n, std::thread::current().id() == caller));
        Control::Continue
    });
    // Let the first (spawn) resume happen so the actor is idle.
    rt.send(p, 0u32);
    let _ = recv::<(u32, bool)>(&mb);
    // The actor replies before its step ends, so some posts find it still running and take
    // the ordinary path; keep going (bounded) until several ran inline.
    let mut inline = 0;
    let deadline = Instant::now() + WAIT;
    let mut i = 0u32;
    while inline < 10 && Instant::now() < deadline {
        i += 1;
        assert!(rt.send_inline(p, i));
        let (n, here) = recv::<(u32, bool)>(&mb);
        assert_eq!(n, i, "order kept");
        inline += here as u32;
        std::thread::yield_now();
    }
    assert!(inline >= 10, "steps ran inline: {inline} of {i}");
    rt.exit(p, scheduler::ExitReason::Killed);
    let m = mb.monitor(p);
    let _ = (m, common::recv_any(&mb));
    assert!(!rt.send_inline(p, 1u32));
    rt.shutdown();
}

#[test]
fn shutdown_wakes_a_thread_blocked_in_recv() {
    let rt = runtime(1);
    let (_me, mb) = rt.mailbox();
    let t = std::thread::spawn(move || mb.recv(None).is_none());
    // Whether the thread blocked before or after the shutdown, it returns.
    rt.shutdown();
    assert!(t.join().unwrap());
}

#[test]
fn invalid_config_is_refused_with_the_field_named() {
    let bad = scheduler::Config {
        reductions: 0,
        ..scheduler::Config::default()
    };
    match scheduler::Runtime::try_new(bad) {
        Err(scheduler::Error::InvalidConfig { field, .. }) => assert_eq!(field, "reductions"),
        other => panic!("expected InvalidConfig, got {:?}", other.map(|_| ())),
    }
    let rt = runtime(0); // 0 = one worker per core
    assert!(rt.config().workers >= 1);
    rt.shutdown();
}

#[test]
fn try_send_hands_the_message_back_when_the_pid_is_dead() {
    let rt = runtime(1);
    let (_me, mb) = rt.mailbox();
    let p = rt.spawn_fn(|_, _| Control::Stop(scheduler::ExitReason::Normal));
    assert!(rt.try_send_message(p, scheduler::Message::new(1u8)).is_ok());
    mb.monitor(p);
    let _ = common::recv_any(&mb);
    let back = rt
        .try_send_message(p, scheduler::Message::new(7u8))
        .unwrap_err();
    assert_eq!(back.downcast::<u8>().unwrap(), 7);
    rt.shutdown();
}

/// A message from outside to an idle runtime wakes one worker. The woken worker, having
/// found the only task, must not wake a second one to look for more (each wake-up is a
/// context switch: two per message was what a request/reply over a socket cost).
#[test]
fn one_message_to_an_idle_runtime_wakes_one_worker() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    let echo = rt.spawn_fn(move |cx, msg| {
        if let Ok(n) = msg.downcast::<u32>() {
            cx.send(me, n);
        }
        Control::Continue
    });
    const N: usize = 20;
    // Let both workers finish searching and park (searching lasts microseconds).
    std::thread::sleep(Duration::from_millis(50));
    let before = rt.worker_wakeups();
    for i in 0..N as u32 {
        rt.send(echo, i);
        assert_eq!(recv::<u32>(&mb), i);
        std::thread::sleep(Duration::from_millis(20));
    }
    let woken = rt.worker_wakeups() - before;
    // One wake-up per message when the workers were parked; fewer if one was still awake.
    // A chain (the woken worker waking the other) would give 2 × N.
    assert!(woken <= N + N / 4, "{woken} wake-ups for {N} messages");
    assert!(woken > 0, "the workers never parked");
    rt.shutdown();
}

/// `spawn_waiting`: the process is not resumed until something arrives for it; then
/// `send_inline` from a thread that is not a worker runs its first step on that thread.
#[test]
fn spawn_waiting_runs_first_on_the_first_message() {
    use std::sync::{Arc, Mutex};

    struct Probe(Arc<Mutex<Vec<std::thread::ThreadId>>>);
    impl Process for Probe {
        fn resume(&mut self, cx: &mut Context<'_>) -> Step {
            self.0.lock().unwrap().push(std::thread::current().id());
            while cx.recv().is_some() {}
            Step::WAIT
        }
    }

    let rt = runtime(2);
    let runs = Arc::new(Mutex::new(Vec::new()));
    let p = rt.spawn_waiting(Probe(runs.clone()));
    assert!(rt.is_alive(p));
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        runs.lock().unwrap().is_empty(),
        "resumed before any message"
    );
    assert!(rt.send_inline(p, 1u32));
    assert_eq!(*runs.lock().unwrap(), vec![std::thread::current().id()]);

    // A plain spawn is resumed without a message, on a worker.
    let runs2 = Arc::new(Mutex::new(Vec::new()));
    rt.spawn(Probe(runs2.clone()));
    let deadline = Instant::now() + WAIT;
    while runs2.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "a spawned process never ran");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_ne!(runs2.lock().unwrap()[0], std::thread::current().id());
    rt.shutdown();
}
