//! Stress tests of the wake-up path: many posting threads, many actors, random timeouts.
//! A lost wake-up shows as a missing report (the bounded wait fails); a double schedule
//! shows as two threads inside one actor's `resume` at once (counted and asserted).
//! Each test is bounded to a few seconds on 2 cores.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{recv, runtime};
use scheduler::{Context, ExitReason, Pid, Process, Step};

/// A tiny deterministic PRNG (xorshift), so failures can be replayed by seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Counts messages; reports to `report` when it has seen `expect` of them. While waiting it
/// uses a random short deadline, so timer wake-ups race with message wake-ups.
struct Sink {
    expect: u64,
    seen: u64,
    timeouts: u64,
    report: Pid,
    inside: Arc<AtomicBool>,
    overlaps: Arc<AtomicUsize>,
    rng: Rng,
    with_timeouts: bool,
}

impl Process for Sink {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        if self.inside.swap(true, Ordering::SeqCst) {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        let step = self.step(cx);
        self.inside.store(false, Ordering::SeqCst);
        step
    }
}

impl Sink {
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        if cx.timed_out() {
            self.timeouts += 1;
        }
        while let Some(m) = cx.recv() {
            assert!(m.is::<u64>());
            self.seen += 1;
            if self.seen == self.expect {
                cx.send(self.report, (cx.pid(), self.seen));
                return Step::Exit(ExitReason::Normal);
            }
            if !cx.consume(1) {
                return Step::Yield;
            }
        }
        let deadline = self
            .with_timeouts
            .then(|| Instant::now() + Duration::from_micros(self.rng.below(2_000)));
        Step::Wait { deadline }
    }
}

fn run_sinks(workers: usize, actors: usize, threads: usize, per_thread: u64, timeouts: bool) {
    let rt = runtime(workers);
    let (me, mb) = rt.mailbox();
    let overlaps = Arc::new(AtomicUsize::new(0));
    // Every thread sends `per_thread` messages spread round-robin with a random offset, so
    // each actor's total is known in advance.
    let total = threads as u64 * per_thread;
    assert_eq!(total % actors as u64, 0);
    let expect = total / actors as u64;
    let pids: Vec<Pid> = (0..actors)
        .map(|i| {
            rt.spawn(Sink {
                expect,
                seen: 0,
                timeouts: 0,
                report: me,
                inside: Arc::new(AtomicBool::new(false)),
                overlaps: Arc::clone(&overlaps),
                rng: Rng(0x9E37_79B9 ^ (i as u64 + 1)),
                with_timeouts: timeouts,
            })
        })
        .collect();
    let pids = Arc::new(pids);
    let senders: Vec<_> = (0..threads)
        .map(|t| {
            let rt = rt.clone();
            let pids = Arc::clone(&pids);
            std::thread::spawn(move || {
                let mut rng = Rng(0xDEAD_BEEF ^ (t as u64 + 7));
                let start = rng.below(pids.len() as u64) as usize;
                for i in 0..per_thread {
                    let to = pids[(start + i as usize) % pids.len()];
                    if rng.below(4) == 0 {
                        rt.send_inline(to, i);
                    } else {
                        rt.send(to, i);
                    }
                    if rng.below(512) == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let mut done = std::collections::HashSet::new();
    for _ in 0..actors {
        let (pid, seen) = recv::<(Pid, u64)>(&mb);
        assert_eq!(seen, expect);
        assert!(done.insert(pid), "{pid} reported twice");
    }
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "an actor ran on two threads at once"
    );
    rt.shutdown();
}

#[test]
fn many_threads_many_actors_no_lost_wakeup() {
    run_sinks(2, 500, 6, 50_000, false);
}

#[test]
fn random_timeouts_race_with_messages() {
    run_sinks(2, 200, 4, 20_000, true);
}

#[test]
fn more_workers_than_cores() {
    run_sinks(5, 100, 3, 20_000, true);
}

/// Actors that message each other: each forwards a hop count to a random peer until it
/// reaches zero, then reports. Runs many concurrent chains through the worker LIFO path.
#[test]
fn actor_to_actor_chains() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    const ACTORS: usize = 1_000;
    const CHAINS: u64 = 200;
    const HOPS: u64 = 500;
    let peers: Arc<std::sync::OnceLock<Vec<Pid>>> = Arc::new(std::sync::OnceLock::new());
    let pids: Vec<Pid> = (0..ACTORS)
        .map(|i| {
            let peers = Arc::clone(&peers);
            let mut rng = Rng(i as u64 * 7919 + 1);
            rt.spawn_fn(move |cx, m| {
                let (chain, hops) = m.downcast::<(u64, u64)>().unwrap();
                if hops == 0 {
                    cx.send(me, chain);
                } else {
                    let peers = peers.get().unwrap();
                    let to = peers[rng.below(peers.len() as u64) as usize];
                    cx.send(to, (chain, hops - 1));
                }
                scheduler::Control::Continue
            })
        })
        .collect();
    peers.set(pids.clone()).unwrap();
    for c in 0..CHAINS {
        rt.send(pids[c as usize % ACTORS], (c, HOPS));
    }
    let mut seen = vec![false; CHAINS as usize];
    for _ in 0..CHAINS {
        let c = recv::<u64>(&mb);
        assert!(!std::mem::replace(&mut seen[c as usize], true));
    }
    rt.shutdown();
}

/// Spawns and exits in a storm while links and monitors cross: every process links to the
/// previous one, and the first one crashes; every one must die exactly once.
#[test]
fn crash_cascades_through_a_linked_chain() {
    let rt = runtime(2);
    let (_me, mb) = rt.mailbox();
    const N: usize = 2_000;
    let mut prev: Option<Pid> = None;
    let mut all = Vec::with_capacity(N);
    for _ in 0..N {
        let link_to = prev;
        let p = rt.spawn_fn(move |cx, m| {
            if m.is::<&str>() {
                panic!("first");
            }
            if let Some(l) = link_to {
                cx.link(l);
            }
            scheduler::Control::Continue
        });
        rt.send(p, ());
        mb.monitor(p);
        all.push(p);
        prev = Some(p);
    }
    // Let the links settle: each process handles its () message before the crash comes;
    // an unprocessed link still fires (the crash reaches it as noproc or via the link).
    rt.send(all[0], "crash");
    let mut down = std::collections::HashSet::new();
    for _ in 0..N {
        match common::recv_any(&mb) {
            scheduler::Message::Down { pid, reason, .. } => {
                assert!(!reason.is_normal(), "{pid}: {reason:?}");
                assert!(down.insert(pid), "{pid} down twice");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(mb.recv_timeout(Duration::from_millis(20)).is_none());
    assert_eq!(rt.process_count(), 1, "only the mailbox is left");
    rt.shutdown();
}

/// Links to and monitors `target` on its first resume (trapping exits), then counts the
/// exit and down messages it gets; once it has one of each it waits a little longer for
/// duplicates, then reports (exits, downs).
struct Watcher {
    target: Pid,
    report: Pid,
    started: bool,
    exits: u32,
    downs: u32,
    linger: Option<Instant>,
}

impl Process for Watcher {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        if !self.started {
            self.started = true;
            cx.trap_exit(true);
            cx.link(self.target);
            cx.monitor(self.target);
        }
        while let Some(m) = cx.recv() {
            match m {
                scheduler::Message::Exit { from, .. } if from == self.target => self.exits += 1,
                scheduler::Message::Down { pid, .. } if pid == self.target => self.downs += 1,
                _ => {}
            }
        }
        if self.exits >= 1 && self.downs >= 1 {
            let linger = *self
                .linger
                .get_or_insert_with(|| Instant::now() + Duration::from_millis(20));
            if cx.timed_out() || Instant::now() >= linger {
                cx.send(self.report, (self.exits, self.downs));
                return Step::Exit(ExitReason::Normal);
            }
            return Step::Wait {
                deadline: Some(linger),
            };
        }
        Step::WAIT
    }
}

#[test]
fn links_and_monitors_racing_an_exit_fire_exactly_once() {
    let rt = runtime(2);
    let (me, mb) = rt.mailbox();
    const WATCHERS: usize = 300;
    for round in 0..5u64 {
        let target = rt.spawn_fn(|_, _| scheduler::Control::Continue);
        let mut rng = Rng(round * 31 + 17);
        let kill_at = rng.below(WATCHERS as u64) as usize;
        for i in 0..WATCHERS {
            if i == kill_at {
                rt.exit(target, ExitReason::Killed);
            }
            rt.spawn(Watcher {
                target,
                report: me,
                started: false,
                exits: 0,
                downs: 0,
                linger: None,
            });
        }
        for _ in 0..WATCHERS {
            assert_eq!(recv::<(u32, u32)>(&mb), (1, 1), "round {round}");
        }
    }
    rt.shutdown();
}

/// The fanout pattern that the benchmark measures, checked: one actor messages N actors per
/// round, each acks to a collector, which starts the next round after N acks. With more
/// workers than cores the rounds are split by stealing (whole batches move between run
/// queues); every actor must run exactly once per message, never on two threads at once,
/// and no round may stall (a lost wake-up would leave the collector waiting).
#[test]
fn fanout_rounds_split_by_stealing_lose_and_repeat_nothing() {
    let rt = runtime(4);
    let (me, mb) = rt.mailbox();
    const N: usize = 3_000;
    const ROUNDS: u64 = 40;
    let overlaps = Arc::new(AtomicUsize::new(0));
    let mut acks = 0usize;
    let mut round = 0u64;
    let mut fan: Option<Pid> = None;
    let collector = rt.spawn_fn(move |cx, m| {
        let m = match m.downcast::<Pid>() {
            Ok(pid) => {
                fan = Some(pid);
                return scheduler::Control::Continue;
            }
            Err(m) => m,
        };
        let (r, runs) = m.downcast::<(u64, u64)>().unwrap();
        assert_eq!(r, round, "an ack from another round");
        assert_eq!(runs, round + 1, "an actor ran a different number of times");
        acks += 1;
        if acks == N {
            acks = 0;
            round += 1;
            if round == ROUNDS {
                cx.send(me, round);
            } else {
                cx.send(fan.unwrap(), round);
            }
        }
        scheduler::Control::Continue
    });
    let members: Vec<Pid> = (0..N)
        .map(|_| {
            let inside = Arc::new(AtomicBool::new(false));
            let overlaps = Arc::clone(&overlaps);
            let mut runs = 0u64;
            rt.spawn_fn(move |cx, m| {
                if inside.swap(true, Ordering::SeqCst) {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                runs += 1;
                let r = m.downcast::<u64>().unwrap();
                cx.send(collector, (r, runs));
                inside.store(false, Ordering::SeqCst);
                scheduler::Control::Continue
            })
        })
        .collect();
    let fan = rt.spawn_fn(move |cx, m| {
        let r = m.downcast::<u64>().unwrap();
        for &w in &members {
            cx.send(w, r);
        }
        scheduler::Control::Continue
    });
    rt.send(collector, fan);
    rt.send(fan, 0u64);
    assert_eq!(recv::<u64>(&mb), ROUNDS);
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "an actor ran on two threads at once"
    );
    rt.shutdown();
}

/// Fan-in: actors and plain threads all send numbered messages to one receiver at once.
/// The receiver alternates between phases of plain and of selective receives (messages
/// from even-numbered senders first), so its inbox is drained in batches, scanned and
/// skipped while others keep pushing. Each sender's messages must arrive complete and in
/// order. (Sizes keep the selective rescans of the skipped backlog well under a second.)
#[test]
fn fan_in_keeps_each_senders_order_under_mixed_receives() {
    let rt = runtime(3);
    let (me, mb) = rt.mailbox();
    const ACTOR_SENDERS: u64 = 6;
    const THREAD_SENDERS: u64 = 2;
    const PER_SENDER: u64 = 1_000;
    const SENDERS: u64 = ACTOR_SENDERS + THREAD_SENDERS;
    const PHASE: u64 = 64;

    struct Receiver {
        next: Vec<u64>,
        left: u64,
        report: Pid,
        selective: bool,
        taken: u64,
    }
    impl Process for Receiver {
        fn resume(&mut self, cx: &mut Context<'_>) -> Step {
            loop {
                let m = if self.selective {
                    cx.recv_matching(|m| {
                        m.downcast_ref::<(u64, u64)>().is_some_and(|p| p.0 % 2 == 0)
                    })
                } else {
                    cx.recv()
                };
                let Some(m) = m else {
                    if self.selective {
                        // Nothing (more) from an even sender: plain receives take the rest.
                        self.selective = false;
                        continue;
                    }
                    return Step::WAIT;
                };
                let (sender, seq) = m.downcast::<(u64, u64)>().unwrap();
                assert_eq!(
                    seq, self.next[sender as usize],
                    "sender {sender} out of order"
                );
                self.next[sender as usize] += 1;
                self.left -= 1;
                if self.left == 0 {
                    cx.send(self.report, "all in order");
                    return Step::Exit(ExitReason::Normal);
                }
                self.taken += 1;
                if self.taken % PHASE == 0 {
                    self.selective = !self.selective;
                    cx.rescan();
                }
                if !cx.consume(1) {
                    return Step::Yield;
                }
            }
        }
    }

    let receiver = rt.spawn(Receiver {
        next: vec![0; SENDERS as usize],
        left: SENDERS * PER_SENDER,
        report: me,
        selective: false,
        taken: 0,
    });
    for s in 0..ACTOR_SENDERS {
        let pid = rt.spawn_fn(move |cx, _| {
            for seq in 0..PER_SENDER {
                cx.send(receiver, (s, seq));
            }
            scheduler::Control::Stop(ExitReason::Normal)
        });
        rt.send(pid, ());
    }
    let threads: Vec<_> = (ACTOR_SENDERS..SENDERS)
        .map(|s| {
            let rt = rt.clone();
            std::thread::spawn(move || {
                for seq in 0..PER_SENDER {
                    rt.send(receiver, (s, seq));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(recv::<&str>(&mb), "all in order");
    rt.shutdown();
}
