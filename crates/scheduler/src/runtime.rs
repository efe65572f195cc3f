//! The runtime handle and the state every thread shares.
//!
//! # Invariants
//! - A process's data (its [`Process`] value and owned state) is touched only by the thread
//!   that holds `RUNNING` in its run-state word (see `state`). Everything other threads do
//!   to a process goes through its inbox as a signal, followed by `notify`.
//! - A message that arrives while the process runs sets `NOTIFIED`; the worker sees it when
//!   the run ends and requeues the process once (`state` explains why exactly once).
//! - Exit path (on the thread that ran the process's last step), in order:
//!   1. set `EXITED` (no notify schedules it any more; `is_alive` turns false);
//!   2. cancel its receive-timeout timer;
//!   3. free its name and remove it from the table, so that whoever receives the exit or
//!      down signal below can reuse the name and sees the pid gone;
//!   4. close the inbox under its lock and answer what is left in it (a late `Link` or
//!      `Monitor` gets its exit or down signal);
//!   5. send `LinkExit` to every link, `Down` to every watcher, `Demonitor` to every
//!      process it monitored, then run its exit hooks (`on_exit`, user code: a panic there
//!      is contained);
//!   6. drop its data (outside every lock).
//!
//! # Lock order
//! Locks are held briefly and never across user code, except the process slot (held by
//! the thread running the process, around `resume`). The only nestings are:
//! - process slot → anything below (sends, spawns and timers from inside `resume`);
//! - a `Mailbox`'s owned state → anything below (its `link`, `monitor`, `spawn_link` and
//!   `spawn_monitor`, like a process slot; no runtime thread ever takes it). A spawn under
//!   it drops the new process there when the runtime is shutting down;
//! - table shard → one inbox (`deliver` pushes while the shard is locked);
//! - registry → run-state word (an atomic, no lock).
//!
//! No lock is taken while holding an inbox, a run queue, the timer heap or the idle list,
//! and nothing but an inbox is taken under a shard, so no cycle can form.
//!
//! # Who may block
//! Worker threads block only when every run queue is empty (parked on a condvar).
//! The timer thread blocks on its condvar until the next deadline. `send` never blocks
//! (only brief mutexes). `Mailbox::recv` blocks its own thread. `shutdown` joins threads.
//!
//! # Shutdown, in order
//! 1. Set the shutdown flag and wake every worker.
//! 2. Stop the timer thread (pending timers are dropped).
//! 3. Join the workers (each finishes the step it is running) and the timer thread.
//! 4. Drop queued tasks, then every process left in the table; wake every thread blocked
//!    in `Mailbox::recv` (it returns `None` from now on, once its queue is empty).
//! 5. Clear the registry.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::context::Context;
use crate::error::Error;
use crate::mailbox::Mailbox;
use crate::message::{ExitReason, Message};
use crate::owned::Owned;
use crate::pid::{MonitorRef, Pid, TimerRef};
use crate::process::{Control, HandlerFn, Process};
use crate::registry::Registry;
use crate::signal::Signal;
use crate::state::{RunState, REGISTERED};
use crate::table::{lock, Actor, Body, Cell, Table};
use crate::timer::{Action, Timers};
use crate::worker::{self, disarm, After, Parker, Place, Queues};

/// When a spawned process first runs.
enum Start {
    /// Soon: it is queued at once.
    Now,
    /// When something arrives for it (`Runtime::spawn_waiting`).
    OnFirstMessage,
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) table: Table,
    pub(crate) queues: Queues,
    pub(crate) timers: Timers,
    pub(crate) registry: Registry,
    next_ref: AtomicU64,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    pub(crate) fn next_ref(&self) -> MonitorRef {
        MonitorRef(self.next_ref.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.queues.shutdown.load(Ordering::SeqCst)
    }

    /// Pushes a signal without waking the receiver (for signals that matter only once it
    /// runs anyway: see `Signal::OnExit`); hands it back when `to` is dead.
    pub(crate) fn deliver_quiet(&self, to: Pid, sig: Signal) -> Result<(), Signal> {
        let shard = self.table.lock_shard(to);
        match shard.get(&to.id()) {
            Some(cell) => cell.push(sig),
            None => Err(sig),
        }
    }

    /// Pushes a signal to `to` and wakes it. The signal comes back if `to` is dead.
    pub(crate) fn deliver(&self, to: Pid, sig: Signal) -> Result<(), Signal> {
        // Push and notify under the shard lock (lock order: shard → inbox), so the common
        // case takes no reference; one is taken only to schedule the process or wake its
        // thread, which happens after the shard is unlocked. A signal that comes back is
        // dropped by the caller, outside every lock (its Drop may be user code).
        let shard = self.table.lock_shard(to);
        let Some(cell) = shard.get(&to.id()) else {
            drop(shard);
            return Err(sig);
        };
        if let Err(back) = cell.push(sig) {
            drop(shard);
            return Err(back);
        }
        let wake = match &cell.body {
            Body::Actor(_) => cell.state.notify().then(|| Arc::clone(cell)),
            Body::Thread(_) => Some(Arc::clone(cell)),
        };
        drop(shard);
        if let Some(cell) = wake {
            match &cell.body {
                Body::Actor(_) => self.queues.schedule(self, cell, Place::Lifo),
                Body::Thread(parker) => parker.unpark(),
            }
        }
        Ok(())
    }

    /// Something arrived for `cell`: schedule it if it was idle, or wake its thread.
    pub(crate) fn wake(&self, cell: Arc<Cell>) {
        match &cell.body {
            Body::Actor(_) => {
                if cell.state.notify() {
                    self.queues.schedule(self, cell, Place::Lifo);
                }
            }
            Body::Thread(parker) => parker.unpark(),
        }
    }

    /// Creates and schedules a process; `setup` fills its owned state before it can run.
    pub(crate) fn spawn_boxed(
        &self,
        process: Box<dyn Process>,
        setup: impl FnOnce(&mut Owned),
    ) -> Pid {
        self.spawn_cell(process, setup, Start::Now)
    }

    /// `spawn_boxed` with the choice of when the first `resume` happens.
    fn spawn_cell(
        &self,
        process: Box<dyn Process>,
        setup: impl FnOnce(&mut Owned),
        start: Start,
    ) -> Pid {
        let pid = self.table.next_pid();
        if self.is_shut_down() {
            return pid; // the process is dropped: a dead pid, like any other
        }
        let mut own = Owned::new(pid, false);
        setup(&mut own);
        let state = match start {
            Start::Now => RunState::new_queued(),
            Start::OnFirstMessage => RunState::new_idle(),
        };
        let cell = Arc::new(Cell::new(
            pid,
            Body::Actor(Mutex::new(Some(Actor { process, own }))),
            state,
        ));
        self.table.insert(Arc::clone(&cell));
        if self.is_shut_down() {
            // `shutdown` may have drained the table before our insert.
            drop(self.table.remove(pid));
            return pid;
        }
        if let Start::Now = start {
            self.queues.schedule(self, cell, Place::Back);
        }
        pid
    }

    /// The exit path (see the module docs). Runs on the thread that owns `own`.
    pub(crate) fn exit_process(&self, cell: &Cell, own: &mut Owned, reason: ExitReason) {
        let prev = cell.state.mark_exited();
        disarm(self, &mut own.armed);
        if prev & REGISTERED != 0 {
            self.registry.remove_pid(cell.pid);
        }
        let removed = self.table.remove(cell.pid);
        own.notify_exit(self, cell, &reason);
        drop(removed);
    }

    fn fire(&self, action: Action) {
        match action {
            Action::Wake(cell) => self.wake(cell),
            Action::Send(pid, msg) => {
                let _ = self.deliver(pid, Signal::Msg(msg));
            }
        }
    }
}

/// A cheap, cloneable handle to a running set of workers. `Send + Sync`.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.shared.config.workers)
            .field("processes", &self.shared.table.len())
            .finish()
    }
}

impl Runtime {
    /// Starts the workers and the timer thread. Panics on an invalid `Config`
    /// (see [`Runtime::try_new`]).
    pub fn new(config: Config) -> Runtime {
        match Runtime::try_new(config) {
            Ok(rt) => rt,
            Err(e) => panic!("scheduler: {e}"),
        }
    }

    /// Starts the workers and the timer thread, or says which `Config` field is wrong.
    pub fn try_new(config: Config) -> Result<Runtime, Error> {
        let config = config.validated()?;
        let workers = config.workers;
        let shared = Arc::new(Shared {
            table: Table::new(),
            queues: Queues::new(workers),
            timers: Timers::new(),
            registry: Registry::default(),
            next_ref: AtomicU64::new(1),
            threads: Mutex::new(Vec::with_capacity(workers + 1)),
            config,
        });
        let rt = Runtime { shared };
        let mut handles = Vec::with_capacity(workers + 1);
        for index in 0..workers {
            let worker_rt = rt.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{index}", rt.shared.config.thread_name))
                .stack_size(rt.shared.config.stack_size)
                .spawn(move || worker::worker_main(worker_rt, index));
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    log::error!("scheduler: cannot start worker {index}: {e}");
                    *lock(&rt.shared.threads) = handles;
                    rt.shutdown();
                    return Err(Error::ShutDown);
                }
            }
        }
        let timer_rt = rt.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-timer", rt.shared.config.thread_name))
            .spawn(move || {
                let shared = &timer_rt.shared;
                shared.timers.run(|action| shared.fire(action));
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                log::error!("scheduler: cannot start the timer thread: {e}");
                *lock(&rt.shared.threads) = handles;
                rt.shutdown();
                return Err(Error::ShutDown);
            }
        }
        *lock(&rt.shared.threads) = handles;
        Ok(rt)
    }

    /// The validated configuration (with `workers` resolved).
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Stops every worker and the timer thread and joins them; drops every process left.
    /// Idempotent. Called from inside a process, it stops the others and does not join the
    /// calling worker. A process whose `resume` never returns makes this wait forever.
    pub fn shutdown(&self) {
        let s = &self.shared;
        s.queues.shutdown.store(true, Ordering::SeqCst);
        s.queues.unpark_all();
        s.timers.shutdown();
        let handles = std::mem::take(&mut *lock(&s.threads));
        let me = std::thread::current().id();
        for h in handles {
            if h.thread().id() != me && h.join().is_err() {
                log::error!("scheduler: a runtime thread panicked");
            }
        }
        s.queues.clear();
        for cell in s.table.drain() {
            match &cell.body {
                Body::Actor(slot) => {
                    // `try_lock`: when called from inside a process, its own slot is held.
                    if let Ok(mut slot) = slot.try_lock() {
                        let actor = slot.take();
                        drop(slot);
                        drop(actor);
                    }
                }
                // A thread blocked in `Mailbox::recv` returns `None` now.
                Body::Thread(parker) => parker.unpark(),
            }
        }
        s.registry.clear();
    }

    /// Spawns a process; it is resumed soon on some worker.
    pub fn spawn(&self, p: impl Process) -> Pid {
        self.shared.spawn_boxed(Box::new(p), |_| {})
    }

    /// Spawns a process that is first resumed when its first message (or signal that wakes
    /// it) arrives, instead of soon after the spawn. For a process whose first step would
    /// only find an empty mailbox and wait (a message handler), the two are the same, minus
    /// a trip through a run queue; and the process is idle, so a [`send_inline`]
    /// (Runtime::send_inline) of its first message runs that step on the sender's thread.
    pub fn spawn_waiting(&self, p: impl Process) -> Pid {
        self.shared
            .spawn_cell(Box::new(p), |_| {}, Start::OnFirstMessage)
    }

    /// Runs `hook` once when `pid` exits, with its pid and exit reason, on the thread that
    /// runs its exit (a worker, or the thread running its step inline), after its links
    /// and monitors fired; at once on this thread with [`ExitReason::NoProc`] if `pid` has
    /// exited or never existed. Like a monitor whose `Down` is a call instead of a message:
    /// setting it up does not wake `pid`, and no process is woken when it fires. The hook
    /// must be short and must not block (it runs on a worker); a panic in it is contained.
    /// There is no way to remove a hook: it holds what it captured until `pid` exits.
    pub fn on_exit(&self, pid: Pid, hook: impl FnOnce(Pid, &ExitReason) + Send + 'static) {
        let sig = Signal::OnExit(Box::new(hook));
        if let Err(Signal::OnExit(hook)) = self.shared.deliver_quiet(pid, sig) {
            crate::owned::run_exit_hook(hook, pid, &ExitReason::NoProc);
        }
    }

    /// Spawns a message-handler actor: `f` runs once per message, in order. The handler
    /// sees exit and down messages too (after `cx.trap_exit(true)` or `cx.monitor`).
    pub fn spawn_fn(
        &self,
        f: impl FnMut(&mut Context<'_>, Message) -> Control + Send + 'static,
    ) -> Pid {
        self.spawn(HandlerFn(f))
    }

    /// Posts a user message. Never blocks; to a dead pid it is a silent no-op.
    pub fn send(&self, to: Pid, msg: impl Any + Send) {
        self.send_message(to, Message::User(Box::new(msg)))
    }

    /// Posts a message as is (a user message, or a forged `Exit`/`Down` message).
    pub fn send_message(&self, to: Pid, msg: Message) {
        let _ = self.shared.deliver(to, Signal::Msg(msg));
    }

    /// Posts a user message and, if the target is an idle actor, runs its step on the
    /// calling thread at once instead of waiting for a worker (lower latency for a thread
    /// that is not a worker, such as a socket reader). Falls back to a normal wake-up when
    /// the actor is already queued or running; never runs two steps of one actor at a
    /// time; the step has the usual reduction budget. Returns `false` when `to` is dead.
    ///
    /// The calling thread runs user code (the actor's `resume`), so it must be a thread
    /// that may do so: not one holding locks the actor might need. From a worker thread it
    /// behaves like `send`.
    pub fn send_inline(&self, to: Pid, msg: impl Any + Send) -> bool {
        let shared = &self.shared;
        let Some(cell) = shared.table.get(to) else {
            return false;
        };
        if cell
            .push(Signal::Msg(Message::User(Box::new(msg))))
            .is_err()
        {
            return false;
        }
        match &cell.body {
            Body::Actor(_) => {
                if cell.state.notify() {
                    if worker::on_worker() {
                        shared.queues.schedule(shared, cell, Place::Lifo);
                    } else if let After::Requeue = worker::run_process(self, &cell) {
                        shared.queues.schedule(shared, cell, Place::Back);
                    }
                }
            }
            Body::Thread(parker) => parker.unpark(),
        }
        true
    }

    /// Posts a message, or hands it back when `to` is dead (has exited or never existed).
    /// A message accepted here can still go unread if `to` exits before taking it.
    pub fn try_send_message(&self, to: Pid, msg: Message) -> Result<(), Message> {
        match self.shared.deliver(to, Signal::Msg(msg)) {
            Ok(()) => Ok(()),
            Err(Signal::Msg(msg)) => Err(msg),
            Err(_) => unreachable!("deliver hands back the signal it was given"),
        }
    }

    /// `true` while the process (or mailbox) has not exited.
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.shared
            .table
            .get(pid)
            .is_some_and(|cell| !cell.state.is_exited())
    }

    /// Sends an exit signal from outside any process (`from` is [`Pid::NONE`]).
    /// `Killed` cannot be trapped; `Normal` is ignored by processes that do not trap exits.
    pub fn exit(&self, pid: Pid, reason: ExitReason) {
        let sig = Signal::Exit {
            from: Pid::NONE,
            reason,
        };
        let _ = self.shared.deliver(pid, sig);
    }

    /// Delivers `msg` to `to` after `delay`, from the timer thread. To a pid that is dead by
    /// then, nothing happens.
    pub fn send_after(&self, delay: Duration, to: Pid, msg: impl Any + Send) -> TimerRef {
        let deadline = Instant::now()
            .checked_add(delay)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
        let action = Action::Send(to, Message::User(Box::new(msg)));
        TimerRef(self.shared.timers.insert(deadline, action))
    }

    /// Cancels a `send_after`; `true` when the timer was still pending (the message will not
    /// be sent).
    pub fn cancel_timer(&self, t: TimerRef) -> bool {
        self.shared.timers.cancel(t.0)
    }

    /// Names a live process. A process has at most one name; a name at most one process.
    /// The name is freed when the process exits.
    pub fn register(&self, name: &str, pid: Pid) -> Result<(), Error> {
        let cell = self.shared.table.get(pid).ok_or(Error::NoProc { pid })?;
        self.shared.registry.register(name, &cell)
    }

    /// The process registered under `name`.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.shared.registry.whereis(name)
    }

    /// Frees a name; `true` when it was registered.
    pub fn unregister(&self, name: &str) -> bool {
        self.shared.registry.unregister(name).is_some()
    }

    /// Sends a user message to the process registered under `name`; `false` if there is
    /// none.
    pub fn send_named(&self, name: &str, msg: impl Any + Send) -> bool {
        match self.whereis(name) {
            Some(pid) => {
                self.send(pid, msg);
                true
            }
            None => false,
        }
    }

    /// A pid for a thread that is not an actor (main, tests, a REPL, a reader thread).
    /// Messages, exit signals and down messages arrive in the [`Mailbox`]; the pid exits
    /// (reason `Normal`) when the `Mailbox` is dropped.
    pub fn mailbox(&self) -> (Pid, Mailbox) {
        let shared = &self.shared;
        let pid = shared.table.next_pid();
        let cell = Arc::new(Cell::new(
            pid,
            Body::Thread(Parker::new()),
            RunState::new_queued(),
        ));
        shared.table.insert(Arc::clone(&cell));
        (pid, Mailbox::new(self.clone(), cell, Owned::new(pid, true)))
    }

    /// Live processes (and mailboxes).
    pub fn process_count(&self) -> usize {
        self.shared.table.len()
    }

    /// The pids of the live processes (and mailboxes), sorted.
    pub fn processes(&self) -> Vec<Pid> {
        self.shared.table.pids()
    }

    /// Pending timers (`send_after` and receive timeouts), for diagnostics and tests.
    pub fn pending_timers(&self) -> usize {
        self.shared.timers.len()
    }

    /// How many times a parked worker has been woken to look for work, since the runtime
    /// started (for diagnostics and tests: each wake-up is a context switch).
    pub fn worker_wakeups(&self) -> usize {
        self.shared.queues.wakeups()
    }
}
