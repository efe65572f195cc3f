//! The crate's one error enum.

use std::fmt;

use crate::pid::Pid;

/// What can go wrong in the runtime's fallible calls.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// `register`: the name already belongs to a live process.
    NameTaken { name: String, owner: Pid },
    /// `register`: the process already has a name (a process has at most one, as in the BEAM).
    AlreadyNamed { pid: Pid, name: String },
    /// The pid does not name a live process.
    NoProc { pid: Pid },
    /// `Runtime::try_new`: a `Config` field is out of range.
    InvalidConfig {
        field: &'static str,
        reason: &'static str,
    },
    /// The runtime was shut down.
    ShutDown,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NameTaken { name, owner } => {
                write!(f, "name {name:?} is already registered to {owner}")
            }
            Error::AlreadyNamed { pid, name } => {
                write!(f, "{pid} is already registered as {name:?}")
            }
            Error::NoProc { pid } => write!(f, "no such process: {pid}"),
            Error::InvalidConfig { field, reason } => {
                write!(f, "invalid config `{field}`: {reason}")
            }
            Error::ShutDown => write!(f, "the runtime was shut down"),
        }
    }
}

impl std::error::Error for Error {}
