//! Peer: chat server on fastwebsockets over hyper 1. `fws_chat PORT`; binds 127.0.0.1.
//!
//! A connection to `/room/NAME` joins room NAME, and every message it sends goes unchanged
//! (same opcode) to every other member; other paths echo. A room member is split: the
//! reader task copies each message once into shared `Bytes` and posts it to the registry
//! (see `tern_bench::rooms`); the writer task owns the write half behind a `BufWriter`,
//! writes every queued frame and flushes once per batch. The reader's obligatory replies
//! (pong, close) go through the same queue, so only the writer ever writes.

use fastwebsockets::{
    upgrade, FragmentCollector, FragmentCollectorRead, Frame, OpCode, Payload, WebSocketError,
};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::sync::Arc;
use tern_bench::rooms::{Rooms, QUEUE};
use tokio::io::BufWriter;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What a member's writer sends: a frame's opcode and payload, shared between members.
type Out = (OpCode, Bytes);

async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn member(
    fut: upgrade::UpgradeFut,
    room: String,
    rooms: Arc<Rooms<Out>>,
) -> Result<(), WebSocketError> {
    let ws = fut.await?;
    let (rd, mut out) = ws.split(|s| {
        let (r, w) = tokio::io::split(s);
        // Buffer the write half so a batch of frames costs one write.
        (r, BufWriter::new(w))
    });
    let mut rd = FragmentCollectorRead::new(rd);
    let (tx, mut rx) = mpsc::channel::<Out>(QUEUE);
    let id = rooms.join(&room, tx.clone());
    let writer = tokio::spawn(async move {
        while let Some((op, bytes)) = rx.recv().await {
            let mut closing = op == OpCode::Close;
            if out
                .write_frame(Frame::new(true, op, None, Payload::Borrowed(&bytes)))
                .await
                .is_err()
            {
                return;
            }
            while let Ok((op, bytes)) = rx.try_recv() {
                closing |= op == OpCode::Close;
                if out
                    .write_frame(Frame::new(true, op, None, Payload::Borrowed(&bytes)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if out.flush().await.is_err() || closing {
                return;
            }
        }
    });
    let result = loop {
        let obligated = tx.clone();
        let frame = rd
            .read_frame::<_, WebSocketError>(&mut move |f: Frame<'_>| {
                let r = obligated.try_send((f.opcode, Bytes::copy_from_slice(&f.payload)));
                async move { r.map_err(|_| WebSocketError::ConnectionClosed) }
            })
            .await;
        match frame {
            Ok(f) if matches!(f.opcode, OpCode::Text | OpCode::Binary) => {
                let shared = Bytes::copy_from_slice(&f.payload);
                rooms.broadcast_except(&room, id, &(f.opcode, shared));
            }
            Ok(f) if f.opcode == OpCode::Close => break Ok(()),
            Ok(_) => {}
            Err(e) => break Err(e),
        }
    };
    rooms.leave(&room, id);
    drop(tx);
    let _ = writer.await;
    result
}

async fn upgrade(
    mut req: Request<Incoming>,
    rooms: Arc<Rooms<Out>>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let room = tern_bench::room_of(req.uri().path()).map(str::to_string);
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        let _ = match room {
            Some(room) => member(fut, room, rooms).await,
            None => echo(fut).await,
        };
    });
    Ok(response)
}

#[tokio::main]
async fn main() {
    let port = tern_bench::port_arg("fws_chat PORT").unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| {
            eprintln!("fws_chat: bind 127.0.0.1:{port}: {e}");
            std::process::exit(1)
        });
    let rooms: Arc<Rooms<Out>> = Arc::default();
    tern_bench::announce(&listener);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("fws_chat: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let rooms = rooms.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = service_fn(move |req| upgrade(req, rooms.clone()));
            let _ = http1::Builder::new()
                .serve_connection(io, svc)
                .with_upgrades()
                .await;
        });
    }
}
