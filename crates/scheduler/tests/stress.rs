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
