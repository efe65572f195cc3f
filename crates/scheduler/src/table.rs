//! The process table (pid → cell) and the cell every process has.
//!
//! A [`Cell`] is shared (`Arc`) by the table, the run queues, timer entries and whichever
//! thread runs the process. It holds the run-state word, the inbox (the only part other
//! threads write) and the body: for an actor, the process and its owned state behind a
//! mutex that only the thread holding `RUNNING` locks (so it is never contended); for a
//! thread's [`Mailbox`](crate::Mailbox), the parker its owner sleeps on.
//!
//! The table is sharded by pid (`SHARDS` mutexes over hash maps), so spawns and lookups on
//! different pids rarely meet on a lock, and there is no global lock on the send path.
//! Pids come from one counter and are never reused; a removed pid is simply absent.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::owned::Owned;
use crate::pid::Pid;
use crate::process::Process;
use crate::signal::Signal;
use crate::state::RunState;
use crate::worker::Parker;

/// Locks a mutex whatever happened before: no user code ever runs while one of our locks
/// is held except the process slot, whose user code runs inside `catch_unwind`.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A hasher for ids that are already unique integers (pids, refs): one multiply.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type IdBuild = BuildHasherDefault<IdHasher>;

/// The table's hasher: pids are dense and sequential, and a shard holds every
/// `SHARDS`-th one, so `id / SHARDS` used as is puts consecutive pids in consecutive
/// buckets (a spawn storm or a sweep over many pids touches memory in order, instead of a
/// cache miss per pid). Its low 7 bits are copied to the top, where the map takes each
/// bucket's tag from, so neighbours still have different tags.
#[derive(Default, Clone, Copy)]
pub(crate) struct DenseHasher(u64);

impl Hasher for DenseHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        let x = n / SHARDS as u64;
        self.0 = x | (x << 57);
    }
}
pub(crate) type IdMap<K, V> = HashMap<K, V, IdBuild>;

/// What other threads push to; drained by the process. The oldest signal sits in `head`,
/// so an actor that gets one message at a time never allocates a queue buffer.
pub(crate) struct Inbox {
    head: Option<Signal>,
    rest: VecDeque<Signal>,
    /// Set by the exit path under this lock; after it, pushes bounce back to the sender.
    pub(crate) closed: bool,
}

impl Inbox {
    fn new() -> Inbox {
        Inbox {
            head: None,
            rest: VecDeque::new(),
            closed: false,
        }
    }

    fn push(&mut self, sig: Signal) {
        if self.head.is_none() && self.rest.is_empty() {
            self.head = Some(sig);
        } else {
            self.rest.push_back(sig);
        }
    }

    /// The oldest signal.
    pub(crate) fn pop(&mut self) -> Option<Signal> {
        self.head.take().or_else(|| self.rest.pop_front())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none() && self.rest.is_empty()
    }

    /// Everything, oldest first (the exit path).
    pub(crate) fn take_all(&mut self) -> impl Iterator<Item = Signal> {
        let head = self.head.take();
        let rest = std::mem::take(&mut self.rest);
        head.into_iter().chain(rest)
    }
}

#[repr(C)]
pub(crate) struct Actor {
    pub(crate) own: Owned,
    pub(crate) process: Box<dyn Process>,
}

pub(crate) enum Body {
    /// `None` once the process has exited and its data was dropped.
    Actor(Mutex<Option<Actor>>),
    Thread(Parker),
}

/// `repr(C)` keeps the fields every send and every run touch (run state, inbox lock and
/// its inline head, then the slot) in the first cache lines, in this order.
#[repr(C)]
pub(crate) struct Cell {
    pub(crate) state: RunState,
    pub(crate) pid: Pid,
    /// Set (under the inbox lock) when a signal other than a message is pushed; the runner
    /// then drains the inbox before `resume`, so exit signals apply even to a process that
    /// never receives. `SeqCst`, like the loads of the run state that pair with it: a
    /// sender whose `notify` saw the process queued has stored this flag before the
    /// worker's `start_run`, which loads it after.
    pub(crate) has_signal: AtomicBool,
    /// `false` when the inbox is known to be empty: set under the inbox lock by a push into
    /// an empty inbox, rewritten under the lock by every drain (whether anything is left),
    /// and read without the lock by `recv` and `pull`, so that an actor whose inbox is
    /// empty does not lock it only to find it empty.
    ///
    /// `SeqCst` on the store that sets it and on the loads, for the same reason as
    /// `has_signal`: a sender whose `notify` saw the process queued (and so did not
    /// schedule it) had set this flag, or found it set, before that load; the worker loads
    /// it after `start_run`, so in the single order of `SeqCst` operations it sees the push.
    /// A push that a read misses otherwise is one whose `notify` comes after the runner's
    /// `start_run`: it sets `NOTIFIED` and the runner requeues the process when it waits
    /// (see `state`); nothing is lost, the message is taken on the next run.
    pub(crate) nonempty: AtomicBool,
    pub(crate) inbox: Mutex<Inbox>,
    pub(crate) body: Body,
}

impl Cell {
    /// A cell whose process starts queued (`state`: `RunState::new_queued`) or idle.
    pub(crate) fn new(pid: Pid, body: Body, state: RunState) -> Cell {
        Cell {
            pid,
            state,
            has_signal: AtomicBool::new(false),
            nonempty: AtomicBool::new(false),
            inbox: Mutex::new(Inbox::new()),
            body,
        }
    }

    /// Pushes a signal unless the process has exited (then the signal comes back).
    /// Inlined into `deliver`, so the signal is not moved once more for a call.
    #[inline]
    pub(crate) fn push(&self, sig: Signal) -> Result<(), Signal> {
        let mut inbox = lock(&self.inbox);
        if inbox.closed {
            return Err(sig);
        }
        let signal = !matches!(sig, Signal::Msg(_));
        inbox.push(sig);
        // Under the lock the flag is exact: store only when it changes (a busy receiver's
        // senders then do not write it at all). Before `has_signal`, so a runner that sees
        // `has_signal` also sees a non-empty inbox.
        if !self.nonempty.load(Ordering::Relaxed) {
            self.nonempty.store(true, Ordering::SeqCst);
        }
        if signal {
            self.has_signal.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
}

const SHARDS: usize = 64;

type ShardMap = HashMap<u64, Arc<Cell>, BuildHasherDefault<DenseHasher>>;

/// One shard, alone on its cache lines (128 bytes: two lines, for the adjacent-line
/// prefetcher): a shard that many senders lock (a process that many others message) does
/// not slow down the sends to its neighbours.
#[repr(align(128))]
struct Shard(Mutex<ShardMap>);

pub(crate) struct Table {
    shards: Box<[Shard]>,
    next: AtomicU64,
    count: AtomicUsize,
}

impl Table {
    pub(crate) fn new() -> Table {
        Table {
            shards: (0..SHARDS)
                .map(|_| Shard(Mutex::new(HashMap::default())))
                .collect(),
            next: AtomicU64::new(1),
            count: AtomicUsize::new(0),
        }
    }

    fn shard(&self, id: u64) -> &Mutex<ShardMap> {
        &self.shards[(id % SHARDS as u64) as usize].0
    }

    /// A fresh pid, never handed out before in this runtime.
    pub(crate) fn next_pid(&self) -> Pid {
        Pid(self.next.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn insert(&self, cell: Arc<Cell>) {
        let id = cell.pid.0;
        lock(self.shard(id)).insert(id, cell);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The shard that holds `pid`, locked. Hold it only to touch one cell's inbox
    /// (lock order: shard → inbox), never across anything else.
    pub(crate) fn lock_shard(&self, pid: Pid) -> MutexGuard<'_, ShardMap> {
        lock(self.shard(pid.0))
    }

    pub(crate) fn get(&self, pid: Pid) -> Option<Arc<Cell>> {
        lock(self.shard(pid.0)).get(&pid.0).cloned()
    }

    pub(crate) fn remove(&self, pid: Pid) -> Option<Arc<Cell>> {
        let removed = lock(self.shard(pid.0)).remove(&pid.0);
        if removed.is_some() {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub(crate) fn pids(&self) -> Vec<Pid> {
        let mut pids: Vec<Pid> = Vec::with_capacity(self.len());
        for shard in self.shards.iter() {
            pids.extend(lock(&shard.0).keys().map(|&id| Pid(id)));
        }
        pids.sort_unstable();
        pids
    }

    /// Empties the table (shutdown), returning the cells so they are dropped unlocked.
    pub(crate) fn drain(&self) -> Vec<Arc<Cell>> {
        let mut cells = Vec::new();
        for shard in self.shards.iter() {
            let mut map = lock(&shard.0);
            self.count.fetch_sub(map.len(), Ordering::Relaxed);
            cells.extend(map.drain().map(|(_, c)| c));
        }
        cells
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_actor_stays_small() {
        // The cell is most of an idle actor's memory (plus the boxed process, its table
        // bucket and allocator overhead); docs/performance.md promises well under 1 KiB.
        let cell = std::mem::size_of::<Cell>();
        assert!(cell <= 320, "Cell grew to {cell} bytes");
        assert!(
            std::mem::size_of::<Signal>() <= 48,
            "a signal is kept inline in the cell"
        );
    }
}
