//! Echo server: every message comes back unchanged (same opcode).
//! `cargo run --release -p bridge --example echo -- PORT` (default 9001).

use bridge::{Conn, Data, Handler, Options};

#[derive(Clone)]
struct Echo;

impl Handler for Echo {
    fn on_message(&mut self, conn: &Conn, msg: Data) {
        let _ = conn.send_payload(msg.as_payload());
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let port: u16 = std::env::args()
        .nth(1)
        .map_or(9001, |p| p.parse().expect("PORT must be a number"));
    let rt = scheduler::Runtime::new(scheduler::Config::default());
    let server = match bridge::serve(&rt, Echo, port, Options::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("echo: {e}");
            std::process::exit(1);
        }
    };
    println!("echo listening on ws://{}", server.local_addr());
    loop {
        std::thread::park();
    }
}
