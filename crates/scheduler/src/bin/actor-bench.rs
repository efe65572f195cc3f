//! `actor-bench BENCH N [M]`: one actor benchmark, one JSON line on stdout.
//!
//! Benchmarks (the same five exist as Erlang escripts in `bench/erlang/`):
//! - `spawn N`: a spawner actor spawns N actors that each wait for one message; then it
//!   sends each one a message; each answers and exits. Value: µs per spawn+exit (the two
//!   phases, not the memory measurement between them); `bytes_per_actor`: RSS growth while
//!   all N are alive and idle, divided by N; `spawn_call_ns`: the spawner's time per
//!   `spawn` call alone.
//! - `ring N M`: N actors in a ring pass a token M laps. Value: messages/s.
//! - `pingpong N`: two actors, N round trips. Value: round trips/s.
//! - `fanout N M`: one actor sends to N actors, M rounds; each acks to a collector, which
//!   starts the next round when all N acked. Value: messages/s, counting sends and acks.
//! - `timers N`: N actors each wait in a receive with a 10 ms timeout. Value: wall ms from
//!   the first spawn until every actor has timed out.
//!
//! Workers: `TERN_WORKERS` if set, else one per core (the default `Config`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use scheduler::{
    Config, Context, Control, ExitReason, Mailbox, Message, Pid, Process, Runtime, Step,
};

const WAIT: Duration = Duration::from_secs(600);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: actor-bench spawn|ring|pingpong|fanout|timers N [M]";
    let Some(bench) = args.first().cloned() else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let num = |i: usize, default: u64| -> Result<u64, String> {
        match args.get(i) {
            None => Ok(default),
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("not a positive integer: {s}")),
        }
    };
    let workers = std::env::var("TERN_WORKERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let rt = Runtime::new(Config {
        workers,
        ..Config::default()
    });
    let result = match bench.as_str() {
        "spawn" => num(1, 1_000_000).map(|n| spawn(&rt, n)),
        "ring" => num(1, 10_000).and_then(|n| Ok(ring(&rt, n, num(2, 100)?))),
        "pingpong" => num(1, 1_000_000).map(|n| pingpong(&rt, n)),
        "fanout" => num(1, 10_000).and_then(|n| Ok(fanout(&rt, n, num(2, 100)?))),
        "timers" => num(1, 100_000).map(|n| timers(&rt, n)),
        other => Err(format!("unknown benchmark {other:?}\n{usage}")),
    };
    let workers = rt.config().workers;
    rt.shutdown();
    match result {
        Ok(r) => {
            let extra = r
                .extra
                .iter()
                .map(|(k, v)| format!(",\"{k}\":{v}"))
                .collect::<String>();
            println!(
                "{{\"runtime\":\"tern\",\"bench\":\"{bench}\",\"n\":{},\"m\":{},\"value\":{},\"unit\":\"{}\",\"elapsed_ms\":{:.3},\"workers\":{workers}{extra}}}",
                r.n,
                r.m,
                r.value,
                r.unit,
                r.elapsed.as_secs_f64() * 1e3
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

struct Outcome {
    n: u64,
    m: u64,
    value: f64,
    unit: &'static str,
    elapsed: Duration,
    extra: Vec<(&'static str, String)>,
}

fn expect<T: 'static>(mb: &Mailbox) -> T {
    match mb.recv_timeout(WAIT).map(Message::downcast::<T>) {
        Some(Ok(v)) => v,
        _ => panic!(
            "benchmark stalled: no {} within {WAIT:?}",
            std::any::type_name::<T>()
        ),
    }
}

/// Resident set size in bytes (Linux `/proc/self/status`), 0 elsewhere.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

enum SpawnCmd {
    Start,
    Go,
}

/// A spawn-benchmark child's answer.
struct Done;

fn spawn(rt: &Runtime, n: u64) -> Outcome {
    let (me, mb) = rt.mailbox();
    let before = rss_bytes();
    let t0 = Instant::now();
    let mut children: Vec<Pid> = Vec::new();
    let mut done = 0u64;
    let spawner = rt.spawn_fn(move |cx, msg| {
        if msg.is::<Done>() {
            done += 1;
            if done == n {
                cx.send(me, "done");
                return Control::Stop(ExitReason::Normal);
            }
            return Control::Continue;
        }
        match msg.downcast::<SpawnCmd>() {
            Ok(SpawnCmd::Start) => {
                children.reserve_exact(n as usize);
                let parent = cx.pid();
                let t = Instant::now();
                for _ in 0..n {
                    children.push(cx.spawn(Child { parent }));
                }
                cx.send(me, ("spawned", t.elapsed()));
            }
            Ok(SpawnCmd::Go) => {
                for pid in children.drain(..) {
                    cx.send(pid, 0u8);
                }
            }
            Err(_) => {}
        }
        Control::Continue
    });
    rt.send(spawner, SpawnCmd::Start);
    let (what, spawn_loop) = expect::<(&str, Duration)>(&mb);
    assert_eq!(what, "spawned");
    let spawn_phase = t0.elapsed();
    let after = rss_bytes();
    let t1 = Instant::now();
    rt.send(spawner, SpawnCmd::Go);
    assert_eq!(expect::<&str>(&mb), "done");
    let elapsed = spawn_phase + t1.elapsed();
    Outcome {
        n,
        m: 0,
        value: elapsed.as_secs_f64() * 1e6 / n as f64,
        unit: "us/spawn+exit",
        elapsed,
        extra: vec![
            (
                "bytes_per_actor",
                format!("{:.0}", after.saturating_sub(before) as f64 / n as f64),
            ),
            (
                "spawn_phase_ms",
                format!("{:.3}", spawn_phase.as_secs_f64() * 1e3),
            ),
            // The spawner's own cost per `spawn` call (allocation, table, run queue).
            (
                "spawn_call_ns",
                format!("{:.0}", spawn_loop.as_secs_f64() * 1e9 / n as f64),
            ),
        ],
    }
}

/// The spawn benchmark's child: waits for one message, tells its parent, exits.
struct Child {
    parent: Pid,
}

impl Process for Child {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        match cx.recv() {
            Some(_) => {
                cx.send(self.parent, Done);
                Step::Exit(ExitReason::Normal)
            }
            None => Step::WAIT,
        }
    }
}

fn ring(rt: &Runtime, n: u64, m: u64) -> Outcome {
    let (me, mb) = rt.mailbox();
    // Build the ring back to front: each member forwards to the next; the last one forwards
    // to the first, whose pid it learns with a setup message.
    let mut next: Option<Pid> = None;
    let mut first: Option<Pid> = None;
    let mut last: Option<Pid> = None;
    for i in 0..n {
        let mut to = next;
        let pid = rt.spawn_fn(move |cx, msg| {
            match msg.downcast::<u64>() {
                Ok(0) => cx.send(me, "done"),
                Ok(hops) => cx.send(to.expect("ring closed"), hops - 1),
                Err(msg) => to = msg.downcast::<Pid>().ok(),
            }
            Control::Continue
        });
        if i == 0 {
            last = Some(pid);
        }
        first = Some(pid);
        next = Some(pid);
    }
    let (first, last) = (first.unwrap(), last.unwrap());
    rt.send(last, first);
    let total = n * m;
    let t0 = Instant::now();
    rt.send(first, total);
    assert_eq!(expect::<&str>(&mb), "done");
    let elapsed = t0.elapsed();
    Outcome {
        n,
        m,
        value: total as f64 / elapsed.as_secs_f64(),
        unit: "msgs/s",
        elapsed,
        extra: vec![],
    }
}

fn pingpong(rt: &Runtime, n: u64) -> Outcome {
    let (me, mb) = rt.mailbox();
    let ponger = rt.spawn_fn(|cx, msg| {
        if let Ok((from, i)) = msg.downcast::<(Pid, u64)>() {
            let me = cx.pid();
            cx.send(from, (me, i));
        }
        Control::Continue
    });
    let pinger = rt.spawn_fn(move |cx, msg| {
        if let Ok((from, i)) = msg.downcast::<(Pid, u64)>() {
            if i == 0 {
                cx.send(me, "done");
            } else {
                let mine = cx.pid();
                cx.send(from, (mine, i - 1));
            }
        }
        Control::Continue
    });
    let t0 = Instant::now();
    rt.send(pinger, (ponger, n));
    assert_eq!(expect::<&str>(&mb), "done");
    let elapsed = t0.elapsed();
    Outcome {
        n,
        m: 0,
        value: n as f64 / elapsed.as_secs_f64(),
        unit: "roundtrips/s",
        elapsed,
        extra: vec![],
    }
}

fn fanout(rt: &Runtime, n: u64, m: u64) -> Outcome {
    let (me, mb) = rt.mailbox();
    let mut acks = 0u64;
    let mut rounds = 0u64;
    let mut fan: Option<Pid> = None;
    let collector = rt.spawn_fn(move |cx, msg| {
        if let Ok(pid) = msg.downcast::<Pid>() {
            fan = Some(pid);
            return Control::Continue;
        }
        acks += 1;
        if acks == n {
            acks = 0;
            rounds += 1;
            if rounds == m {
                cx.send(me, "done");
            } else {
                cx.send(fan.expect("fan known"), ());
            }
        }
        Control::Continue
    });
    let workers: Vec<Pid> = (0..n)
        .map(|_| {
            rt.spawn_fn(move |cx, _| {
                cx.send(collector, 1u8);
                Control::Continue
            })
        })
        .collect();
    let fan = rt.spawn_fn(move |cx, _| {
        for &w in &workers {
            cx.send(w, 0u8);
        }
        Control::Continue
    });
    rt.send(collector, fan);
    let t0 = Instant::now();
    rt.send(fan, ());
    assert_eq!(expect::<&str>(&mb), "done");
    let elapsed = t0.elapsed();
    Outcome {
        n,
        m,
        value: (2 * n * m) as f64 / elapsed.as_secs_f64(),
        unit: "msgs/s",
        elapsed,
        extra: vec![],
    }
}

/// The timers benchmark's actor: a receive with a 10 ms timeout, then report.
struct Sleeper {
    report: Pid,
    deadline: Option<Instant>,
}

impl Process for Sleeper {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        if cx.timed_out() {
            cx.send(self.report, ());
            return Step::Exit(ExitReason::Normal);
        }
        if cx.recv().is_some() {
            return Step::Exit(ExitReason::crashed("unexpected message"));
        }
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + Duration::from_millis(10));
        Step::Wait {
            deadline: Some(deadline),
        }
    }
}

fn timers(rt: &Runtime, n: u64) -> Outcome {
    let (me, mb) = rt.mailbox();
    let mut left = n;
    let collector = rt.spawn_fn(move |cx, _| {
        left -= 1;
        if left == 0 {
            cx.send(me, "done");
        }
        Control::Continue
    });
    let t0 = Instant::now();
    let starter = rt.spawn_fn(move |cx, _| {
        for _ in 0..n {
            cx.spawn(Sleeper {
                report: collector,
                deadline: None,
            });
        }
        Control::Stop(ExitReason::Normal)
    });
    rt.send(starter, ());
    assert_eq!(expect::<&str>(&mb), "done");
    let elapsed = t0.elapsed();
    Outcome {
        n,
        m: 0,
        value: elapsed.as_secs_f64() * 1e3,
        unit: "ms",
        elapsed,
        extra: vec![],
    }
}
