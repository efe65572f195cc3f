//! The name registry: name ↔ pid, at most one name per process, freed when it exits.
//!
//! A registered process has the `REGISTERED` bit in its run-state word, so the exit path
//! takes the registry lock only for processes that have a name. `register` sets the bit
//! under the registry lock and fails if the word says `EXITED`; the exit path sets
//! `EXITED` first and then, seeing `REGISTERED`, removes the name under the lock. Either
//! order leaves no name behind for a dead process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::Error;
use crate::pid::Pid;
use crate::table::{lock, Cell, IdMap};

#[derive(Default)]
struct Names {
    by_name: HashMap<Arc<str>, Pid>,
    by_pid: IdMap<Pid, Arc<str>>,
}

#[derive(Default)]
pub(crate) struct Registry {
    names: Mutex<Names>,
}

impl Registry {
    pub(crate) fn register(&self, name: &str, cell: &Cell) -> Result<(), Error> {
        let mut names = lock(&self.names);
        if let Some(&owner) = names.by_name.get(name) {
            return Err(Error::NameTaken {
                name: name.to_string(),
                owner,
            });
        }
        if let Some(old) = names.by_pid.get(&cell.pid) {
            return Err(Error::AlreadyNamed {
                pid: cell.pid,
                name: old.to_string(),
            });
        }
        if !cell.state.set_registered() {
            return Err(Error::NoProc { pid: cell.pid });
        }
        let name: Arc<str> = name.into();
        names.by_name.insert(Arc::clone(&name), cell.pid);
        names.by_pid.insert(cell.pid, name);
        Ok(())
    }

    pub(crate) fn whereis(&self, name: &str) -> Option<Pid> {
        lock(&self.names).by_name.get(name).copied()
    }

    /// Removes `name`; returns the pid it named.
    pub(crate) fn unregister(&self, name: &str) -> Option<Pid> {
        let mut names = lock(&self.names);
        let pid = names.by_name.remove(name)?;
        names.by_pid.remove(&pid);
        Some(pid)
    }

    /// The exit path of a process whose word had `REGISTERED`.
    pub(crate) fn remove_pid(&self, pid: Pid) {
        let mut names = lock(&self.names);
        if let Some(name) = names.by_pid.remove(&pid) {
            names.by_name.remove(&name);
        }
    }

    pub(crate) fn clear(&self) {
        let mut names = lock(&self.names);
        names.by_name.clear();
        names.by_pid.clear();
    }
}
