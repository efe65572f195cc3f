//! Peer: wss echo server on tokio-tungstenite over tokio-rustls (ring provider).
//! `tt_wss_echo PORT CERT KEY` (PEM files); binds 127.0.0.1.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;

fn fail(msg: String) -> ! {
    eprintln!("tt_wss_echo: {msg}");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    const USAGE: &str = "tt_wss_echo PORT CERT KEY";
    let port = tern_bench::port_arg(USAGE).unwrap_or_else(|e| fail(e));
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        fail(format!("usage: {USAGE}"));
    }
    let cfg = tern_bench::tls::server_config(&args[2], &args[3]).unwrap_or_else(|e| fail(e));
    let acceptor = TlsAcceptor::from(cfg);
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| fail(format!("bind 127.0.0.1:{port}: {e}")));
    tern_bench::announce(&listener);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("tt_wss_echo: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
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
