//! Peer: chat server on tokio-tungstenite. `tt_chat PORT`; binds 127.0.0.1.
//!
//! A connection to `/room/NAME` joins room NAME, and every message it sends goes unchanged
//! (same opcode) to every other member; other paths echo. Per room member: a reader task
//! (posts into the registry, see `tern_bench::rooms`) and a writer task that owns the sink
//! and drains its queue, flushing once per batch.

use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use tern_bench::rooms::{Rooms, QUEUE};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let port = tern_bench::port_arg("tt_chat PORT").unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| {
            eprintln!("tt_chat: bind 127.0.0.1:{port}: {e}");
            std::process::exit(1)
        });
    let rooms: Arc<Rooms<Message>> = Arc::default();
    tern_bench::announce(&listener);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("tt_chat: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, rooms.clone()));
    }
}

async fn serve(stream: TcpStream, rooms: Arc<Rooms<Message>>) {
    let mut path = String::new();
    // The callback's error type is fixed by tungstenite's `Callback` trait.
    #[allow(clippy::result_large_err)]
    let record_path = |req: &Request, resp: Response| {
        path = req.uri().path().to_string();
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, record_path).await else {
        return;
    };
    let Some(room) = tern_bench::room_of(&path).map(str::to_string) else {
        while let Some(Ok(msg)) = ws.next().await {
            if matches!(msg, Message::Text(_) | Message::Binary(_)) && ws.send(msg).await.is_err() {
                return;
            }
        }
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    let id = rooms.join(&room, tx);
    let writer = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            if sink.feed(first).await.is_err() {
                return;
            }
            while let Ok(more) = rx.try_recv() {
                if sink.feed(more).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    while let Some(Ok(msg)) = stream.next().await {
        if matches!(msg, Message::Text(_) | Message::Binary(_)) {
            rooms.broadcast_except(&room, id, &msg);
        }
    }
    rooms.leave(&room, id);
    let _ = writer.await;
}
