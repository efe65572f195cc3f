//! What a process receives ([`Message`]) and why a process ended ([`ExitReason`]).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::pid::{MonitorRef, Pid};

/// Why a process ended, carried by exit signals and down messages.
#[non_exhaustive]
#[derive(Clone)]
pub enum ExitReason {
    /// The process finished. Does not kill linked processes that do not trap exits.
    Normal,
    /// Killed by `exit(pid, ExitReason::Killed)`, which cannot be trapped. Linked processes
    /// receive `Killed` as an ordinary (trappable) reason.
    Killed,
    /// The process panicked (the panic message) or chose to crash.
    Crashed(Arc<str>),
    /// The target of a link or monitor did not exist (already exited, or never did).
    NoProc,
    /// An application-defined reason. `Debug` shows it when it is a `String`, `&'static str`
    /// or `Arc<str>`; otherwise `Custom(..)`.
    Custom(Arc<dyn Any + Send + Sync>),
}

impl ExitReason {
    /// A crash reason with this description.
    pub fn crashed(msg: impl Into<Arc<str>>) -> ExitReason {
        ExitReason::Crashed(msg.into())
    }

    /// A custom reason holding `term`.
    pub fn custom(term: impl Any + Send + Sync) -> ExitReason {
        ExitReason::Custom(Arc::new(term))
    }

    /// `true` for [`ExitReason::Normal`].
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal)
    }

    /// The custom term, if this is a `Custom` reason holding a `T`.
    pub fn custom_ref<T: Any>(&self) -> Option<&T> {
        match self {
            ExitReason::Custom(term) => term.downcast_ref::<T>(),
            _ => None,
        }
    }

    /// A short description of a custom term, when it is a string of some kind.
    fn custom_text(term: &(dyn Any + Send + Sync)) -> Option<&str> {
        if let Some(s) = term.downcast_ref::<String>() {
            Some(s)
        } else if let Some(s) = term.downcast_ref::<&'static str>() {
            Some(s)
        } else {
            term.downcast_ref::<Arc<str>>().map(|s| &**s)
        }
    }
}

impl fmt::Debug for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("Normal"),
            ExitReason::Killed => f.write_str("Killed"),
            ExitReason::Crashed(msg) => f.debug_tuple("Crashed").field(msg).finish(),
            ExitReason::NoProc => f.write_str("NoProc"),
            ExitReason::Custom(term) => match ExitReason::custom_text(&**term) {
                Some(text) => f.debug_tuple("Custom").field(&text).finish(),
                None => f.write_str("Custom(..)"),
            },
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::Crashed(msg) => write!(f, "crashed: {msg}"),
            ExitReason::NoProc => f.write_str("noproc"),
            ExitReason::Custom(term) => match ExitReason::custom_text(&**term) {
                Some(text) => f.write_str(text),
                None => f.write_str("custom"),
            },
        }
    }
}

/// What a process takes out of its mailbox.
#[non_exhaustive]
pub enum Message {
    /// A message sent with `send`: any `Send` value, so crates' own types never collide.
    User(Box<dyn Any + Send>),
    /// A linked process exited (or `exit(pid, reason)` was called). Only processes that trap
    /// exits receive these; the others exit with the same reason (unless it is `Normal`).
    Exit { from: Pid, reason: ExitReason },
    /// A monitored process exited (or did not exist: reason `NoProc`). Fires once per monitor.
    Down {
        monitor: MonitorRef,
        pid: Pid,
        reason: ExitReason,
    },
}

impl Message {
    /// Wraps a value as a user message.
    pub fn new(value: impl Any + Send) -> Message {
        Message::User(Box::new(value))
    }

    /// `true` when this is a user message holding a `T`.
    pub fn is<T: Any>(&self) -> bool {
        matches!(self, Message::User(b) if b.is::<T>())
    }

    /// The user value, if this is a user message holding a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        match self {
            Message::User(b) => b.downcast_ref::<T>(),
            _ => None,
        }
    }

    /// Takes the user value out, or hands the message back unchanged.
    pub fn downcast<T: Any>(self) -> Result<T, Message> {
        match self {
            Message::User(b) => match b.downcast::<T>() {
                Ok(v) => Ok(*v),
                Err(b) => Err(Message::User(b)),
            },
            other => Err(other),
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::User(_) => f.write_str("User(..)"),
            Message::Exit { from, reason } => f
                .debug_struct("Exit")
                .field("from", from)
                .field("reason", reason)
                .finish(),
            Message::Down {
                monitor,
                pid,
                reason,
            } => f
                .debug_struct("Down")
                .field("monitor", monitor)
                .field("pid", pid)
                .field("reason", reason)
                .finish(),
        }
    }
}
