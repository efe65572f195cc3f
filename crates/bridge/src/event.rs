//! What the bridge posts into a connection actor's mailbox, and the flow-control ticket
//! that travels with each inbound message.
//!
//! Invariants:
//! - Every event is posted as `Message::User(Box<Event>)`: the bridge's own type, so a
//!   downcast tells it apart from anything another actor sends.
//! - For each connection the actor receives, in order: one `Connect`, then (if it accepted)
//!   any number of `Text`/`Binary`, then exactly one `Closed`. A connection the actor
//!   rejected gets no `Closed`.
//! - Each `Text`/`Binary` event holds a [`Ticket`]; the connection's unprocessed-input
//!   counters go down when the ticket is dropped (when the actor drops or destructures the
//!   event), and the I/O thread is woken if it had paused reading for that reason.

use std::fmt;

use crate::conn::{Conn, ConnShared};
use std::sync::Arc;

/// A whole message received from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Data {
    Text(String),
    Binary(Vec<u8>),
}

impl Data {
    /// A borrowed view, e.g. to send the same message on (`conn.send_payload(data.as_payload())`).
    pub fn as_payload(&self) -> Payload<'_> {
        match self {
            Data::Text(s) => Payload::Text(s),
            Data::Binary(b) => Payload::Binary(b),
        }
    }
    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Data::Text(s) => s.len(),
            Data::Binary(b) => b.len(),
        }
    }
    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A message to send, borrowed: text goes out as a text frame, bytes as a binary frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

impl<'a> From<&'a str> for Payload<'a> {
    fn from(s: &'a str) -> Payload<'a> {
        Payload::Text(s)
    }
}
impl<'a> From<&'a String> for Payload<'a> {
    fn from(s: &'a String) -> Payload<'a> {
        Payload::Text(s)
    }
}
impl<'a> From<&'a [u8]> for Payload<'a> {
    fn from(b: &'a [u8]) -> Payload<'a> {
        Payload::Binary(b)
    }
}
impl<'a> From<&'a Vec<u8>> for Payload<'a> {
    fn from(b: &'a Vec<u8>) -> Payload<'a> {
        Payload::Binary(b)
    }
}
impl<'a> From<&'a Data> for Payload<'a> {
    fn from(d: &'a Data) -> Payload<'a> {
        d.as_payload()
    }
}

/// What happened on a connection. Received by the connection actor as
/// `Message::User(Box<Event>)`; use [`Event::from_message`] to tell it apart.
#[non_exhaustive]
pub enum EventKind {
    /// A client asks to connect: answer with [`Conn::accept`] or [`Conn::reject`] before the
    /// handshake deadline (path, headers and peer are on the `Conn`).
    Connect,
    /// A whole message.
    Message(Data),
    /// The connection has ended. `code` is the peer's close code, the code we closed with,
    /// 1005 for a close frame without a code, or 1006 when the TCP connection ended without
    /// a close handshake.
    Closed { code: u16, reason: String },
}

/// One event of one connection.
pub struct Event {
    pub(crate) conn: Conn,
    pub(crate) kind: EventKind,
    pub(crate) ticket: Option<Ticket>,
}

impl Event {
    pub(crate) fn new(conn: Conn, kind: EventKind, ticket: Option<Ticket>) -> Event {
        Event { conn, kind, ticket }
    }

    /// Takes a bridge event out of an actor message, or gives the message back.
    pub fn from_message(msg: scheduler::Message) -> Result<Event, scheduler::Message> {
        msg.downcast::<Event>()
    }

    /// The connection.
    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    /// What happened.
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }

    /// Splits the event; the message counts as processed from here on.
    pub fn into_parts(self) -> (Conn, EventKind) {
        let Event { conn, kind, ticket } = self;
        drop(ticket);
        (conn, kind)
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            EventKind::Connect => "Connect".to_string(),
            EventKind::Message(d) => format!("Message({} bytes)", d.len()),
            EventKind::Closed { code, reason } => format!("Closed({code}, {reason:?})"),
        };
        f.debug_struct("Event")
            .field("conn", &self.conn.id())
            .field("kind", &kind)
            .finish()
    }
}

/// Counts one delivered message (`bytes` long) as unprocessed until dropped.
pub(crate) struct Ticket {
    conn: Arc<ConnShared>,
    bytes: usize,
}

impl Ticket {
    pub(crate) fn new(conn: Arc<ConnShared>, bytes: usize) -> Ticket {
        conn.inbound_add(bytes);
        Ticket { conn, bytes }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.conn.inbound_sub(self.bytes);
    }
}
