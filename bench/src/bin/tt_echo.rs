//! Peer: echo server on tokio-tungstenite (default configuration, multi-threaded tokio
//! runtime with one worker per core). `tt_echo PORT`; binds 127.0.0.1.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let port = match tern_bench::port_arg("tt_echo PORT") {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tt_echo: bind 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    tern_bench::announce(&listener);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of fds and the like: back off briefly instead of spinning.
                eprintln!("tt_echo: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if matches!(msg, Message::Text(_) | Message::Binary(_))
                    && ws.send(msg).await.is_err()
                {
                    return;
                }
            }
        });
    }
}
