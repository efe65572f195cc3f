//! Chat server: a connection to `/room/NAME` joins room NAME, and every message a member sends
//! goes, unchanged (same opcode), to every other member of that room. Other paths echo.
//! `cargo run --release -p bridge --example chat -- PORT` (default 9002).

use bridge::{Conn, Data, Handler, Options};

#[derive(Clone, Default)]
struct Chat {
    room: Option<String>,
}

impl Handler for Chat {
    fn on_connect(&mut self, conn: &Conn) -> bridge::Decision {
        self.room = conn
            .path()
            .strip_prefix("/room/")
            .map(|r| r.split('?').next().unwrap_or(r).to_string())
            .filter(|r| !r.is_empty());
        if let Some(r) = &self.room {
            conn.join(r);
        }
        bridge::Decision::ACCEPT
    }

    fn on_message(&mut self, conn: &Conn, msg: Data) {
        match &self.room {
            Some(r) => {
                conn.server_rooms()
                    .broadcast_except(r, msg.as_payload(), conn);
            }
            None => {
                let _ = conn.send_payload(msg.as_payload());
            }
        }
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let port: u16 = std::env::args()
        .nth(1)
        .map_or(9002, |p| p.parse().expect("PORT must be a number"));
    let rt = scheduler::Runtime::new(scheduler::Config::default());
    let server = match bridge::serve(&rt, Chat::default(), port, Options::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chat: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "chat listening on ws://{} (rooms at /room/NAME)",
        server.local_addr()
    );
    loop {
        std::thread::park();
    }
}
