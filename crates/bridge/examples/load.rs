//! A small load generator for a quick look at an echo server (the benchmark suite proper is
//! its own crate): C connections, each with one message in flight, for D seconds; prints
//! round trips/s and latency percentiles measured in this run.
//! `cargo run --release -p bridge --example load -- PORT [CONNS=64] [SIZE=32] [SECS=5]`
//!
//! `load idle PORT N SECS` instead opens N connections and holds them idle for SECS seconds.
//! `load fanout PORT MEMBERS MSGS` (against the chat example): MEMBERS connections join
//! `/room/fan`, one more publishes MSGS messages; prints deliveries/s and lost messages.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::Message;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("idle") {
        let port: u16 = args[1].parse().expect("PORT");
        let n: usize = args[2].parse().expect("N");
        let secs: u64 = args[3].parse().expect("SECS");
        let mut held = Vec::with_capacity(n);
        for _ in 0..n {
            let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let (ws, _) =
                tungstenite::client(format!("ws://127.0.0.1:{port}/"), s).expect("handshake");
            held.push(ws);
        }
        println!("holding {n} idle connections for {secs} s");
        std::thread::sleep(Duration::from_secs(secs));
        return;
    }
    if args.first().map(String::as_str) == Some("fanout") {
        fanout(&args[1..]);
        return;
    }
    let port: u16 = args.first().expect("PORT").parse().expect("PORT");
    let conns: usize = args.get(1).map_or(64, |s| s.parse().expect("CONNS"));
    let size: usize = args.get(2).map_or(32, |s| s.parse().expect("SIZE"));
    let secs: u64 = args.get(3).map_or(5, |s| s.parse().expect("SECS"));
    let threads = conns.min(8);
    let end = Instant::now() + Duration::from_secs(secs);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let mine = conns / threads + usize::from(t < conns % threads);
            std::thread::spawn(move || {
                let mut ws: Vec<_> = (0..mine)
                    .map(|_| {
                        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                        s.set_nodelay(true).unwrap();
                        tungstenite::client(format!("ws://127.0.0.1:{port}/"), s)
                            .expect("handshake")
                            .0
                    })
                    .collect();
                let payload = vec![b'x'; size];
                let mut lat = Vec::new();
                let mut sent: Vec<Instant> = Vec::new();
                for w in ws.iter_mut() {
                    sent.push(Instant::now());
                    w.send(Message::binary(payload.clone())).unwrap();
                }
                while Instant::now() < end {
                    for (i, w) in ws.iter_mut().enumerate() {
                        match w.read().unwrap() {
                            Message::Binary(_) => {}
                            m => panic!("unexpected {m:?}"),
                        }
                        lat.push(sent[i].elapsed());
                        sent[i] = Instant::now();
                        w.send(Message::binary(payload.clone())).unwrap();
                    }
                }
                lat
            })
        })
        .collect();
    let t0 = Instant::now();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let took = t0.elapsed().as_secs_f64();
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    println!(
        "conns={conns} size={size}: {:.0} round trips/s, p50 {:?}, p99 {:?} ({} samples)",
        lat.len() as f64 / took,
        p(0.5),
        p(0.99),
        lat.len()
    );
}

fn fanout(args: &[String]) {
    let port: u16 = args[0].parse().expect("PORT");
    let members: usize = args.get(1).map_or(1000, |s| s.parse().expect("MEMBERS"));
    let msgs: usize = args.get(2).map_or(200, |s| s.parse().expect("MSGS"));
    let threads = 8.min(members);
    let url = format!("ws://127.0.0.1:{port}/room/fan");
    let ready = std::sync::Arc::new(std::sync::Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let mine = members / threads + usize::from(t < members % threads);
            let url = url.clone();
            let ready = ready.clone();
            std::thread::spawn(move || {
                let mut ws: Vec<_> = (0..mine)
                    .map(|_| {
                        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        tungstenite::client(url.as_str(), s).expect("handshake").0
                    })
                    .collect();
                ready.wait();
                let mut got = 0usize;
                let mut last: Option<Instant> = None;
                for w in ws.iter_mut() {
                    for _ in 0..msgs {
                        match w.read() {
                            Ok(Message::Text(_)) => got += 1,
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                    last = Some(Instant::now());
                }
                (got, last)
            })
        })
        .collect();
    ready.wait();
    // Let the last joins land (the server joins on connect; the 101 came first).
    std::thread::sleep(Duration::from_millis(200));
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (mut publisher, _) = tungstenite::client(url.as_str(), s).expect("handshake");
    let t0 = Instant::now();
    for i in 0..msgs {
        publisher.send(Message::text(format!("{i}"))).unwrap();
    }
    let mut got = 0;
    let mut end = t0;
    for h in handles {
        let (g, last) = h.join().unwrap();
        got += g;
        if let Some(l) = last {
            end = end.max(l);
        }
    }
    let took = (end - t0).as_secs_f64();
    println!(
        "fanout members={members} msgs={msgs}: {} deliveries in {:.3} s = {:.0} deliveries/s, lost {}",
        got,
        took,
        got as f64 / took,
        members * msgs - got
    );
}
