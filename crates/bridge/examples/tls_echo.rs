//! Echo over wss: `cargo run --release -p bridge --example tls_echo -- PORT CERT.pem KEY.pem`.

use std::path::Path;

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
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: tls_echo PORT CERT.pem KEY.pem");
        std::process::exit(2);
    }
    let port: u16 = args[1].parse().expect("PORT must be a number");
    let rt = scheduler::Runtime::new(scheduler::Config::default());
    let server = match bridge::serve_tls(
        &rt,
        Echo,
        port,
        Path::new(&args[2]),
        Path::new(&args[3]),
        Options::default(),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tls_echo: {e}");
            std::process::exit(1);
        }
    };
    println!("tls_echo listening on wss://{}", server.local_addr());
    loop {
        std::thread::park();
    }
}
