//! Worker threads: run queues, the LIFO slot, stealing, parking, and running one process.
//!
//! Queues: one local queue per worker, each a short mutex-protected deque. A worker
//! pushes to its own; a thread that is not a worker (the timer, a mailbox owner, the
//! bridge's readers) pushes to a worker's queue chosen round-robin by a thread-local
//! counter, so there is no global lock on any wake-up path; idle workers steal half of a
//! busy worker's queue. Each worker also has a LIFO slot in a thread-local: a process woken
//! by a message sent from a worker runs next on that worker when nothing else waits in
//! that worker's queue, so a request/reply pair or a token ring stays on one core without
//! waking another thread; when others wait, it goes behind them (so a process that many
//! others message takes their messages in one run). The slot is not stealable; a run of
//! `LIFO_LIMIT` consecutive slot tasks sends the slot's task to the back of the local
//! queue so nothing queued behind it starves.
//!
//! Parking (register, re-check, park): an idle worker pushes itself on the idle list,
//! increments `num_idle`, issues a `SeqCst` fence, re-checks every queue, and only then
//! parks on its `Parker`. A scheduler pushes its task, fences, and reads `num_idle`: one of
//! the two sees the other, so no task is left in a queue while every worker sleeps. A
//! worker pushing into its own queue does this only when the queue's new length is a power
//! of two: it is awake and runs its own queue anyway (no task is stranded), the queue was
//! announced when it became non-empty, and again each time it doubled, so a burst of n
//! pushes pays for log2(n) fences.
//!
//! Searching: before parking, an idle worker keeps looking for `SEARCH_ROUNDS` rounds (a few
//! microseconds, giving its CPU away every 8th round; bounded, never a busy loop), and a
//! worker woken by a notifier starts out looking. While any worker is looking
//! (`num_searching > 0`), pushers skip the wake-up, so a burst of pushes wakes one worker,
//! not one per push, and a producer/consumer pair on two workers does not pay a system call
//! per task. A searcher that finds work and was the last one wakes the next idle worker, if
//! any, to look in its place, but only if a task is still queued after the one it took
//! (pushers skipped their wake-ups while it searched; an empty queue means they had nothing
//! to announce). So one message to an idle runtime wakes one worker, not a chain of two.
//!
//! Who may block: workers block only in `Parker::park` when no task is queued anywhere, and
//! briefly on the queue mutexes. `resume` must not block. Locks are never nested here
//! (a batch is moved out of one queue before another is locked).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::context::Context;
use crate::message::ExitReason;
use crate::owned::drop_quietly;
use crate::process::Step;
use crate::runtime::{Runtime, Shared};
use crate::table::{lock, Actor, Body, Cell};
use crate::timer::Action;

/// A one-token parking spot: `unpark` before `park` makes `park` return at once.
pub(crate) struct Parker {
    token: Mutex<bool>,
    cv: Condvar,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            token: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    /// Waits for the token or the deadline. `true` when the token was taken.
    pub(crate) fn park(&self, deadline: Option<Instant>) -> bool {
        let mut token = lock(&self.token);
        loop {
            if *token {
                *token = false;
                return true;
            }
            token = match deadline {
                None => self.cv.wait(token).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    self.cv
                        .wait_timeout(token, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    pub(crate) fn unpark(&self) {
        *lock(&self.token) = true;
        self.cv.notify_one();
    }
}

/// Where a woken or new process goes when the scheduling thread is a worker.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// The LIFO slot (a process woken by a message): runs next on this worker.
    Lifo,
    /// The back of the local queue (spawned or yielded).
    Back,
}

const LIFO_LIMIT: u32 = 32;
/// How many times an idle worker looks for work (a few microseconds in all) before parking.
const SEARCH_ROUNDS: u32 = 32;

/// A worker's run queue. `len` mirrors the deque's length (written under the lock) so
/// that the owner can ask "is anything waiting here?" without locking.
struct RunQueue {
    q: Mutex<VecDeque<Arc<Cell>>>,
    len: AtomicUsize,
}

impl RunQueue {
    fn new() -> RunQueue {
        RunQueue {
            q: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// The queue's length after this push.
    fn push_back(&self, cell: Arc<Cell>) -> usize {
        let mut q = lock(&self.q);
        q.push_back(cell);
        let len = q.len();
        self.len.store(len, Ordering::Relaxed);
        len
    }

    /// Appends `cells`, leaving it empty. Into an empty queue the two buffers are swapped
    /// (no copy), so a thief's buffer and its queue's trade capacity instead of allocating.
    fn append(&self, cells: &mut VecDeque<Arc<Cell>>) {
        let mut q = lock(&self.q);
        if q.is_empty() {
            std::mem::swap(&mut *q, cells);
        } else {
            q.extend(cells.drain(..));
        }
        self.len.store(q.len(), Ordering::Relaxed);
    }

    fn pop_front(&self) -> Option<Arc<Cell>> {
        let mut q = lock(&self.q);
        let cell = q.pop_front();
        self.len.store(q.len(), Ordering::Relaxed);
        cell
    }

    /// Moves the older half (rounded up) to the end of `into`, for a thief. `into` is the
    /// thief's own reused buffer: a steal allocates nothing once the buffers have grown
    /// (a fresh buffer per steal was a large allocation, which also made the allocator
    /// consolidate its small free chunks: every message got slower to allocate after it).
    fn steal_half(&self, into: &mut VecDeque<Arc<Cell>>) {
        let mut q = lock(&self.q);
        let k = q.len().div_ceil(2);
        into.extend(q.drain(..k));
        self.len.store(q.len(), Ordering::Relaxed);
    }

    fn is_empty(&self) -> bool {
        lock(&self.q).is_empty()
    }

    /// A hint, exact only to the owner between its own operations.
    fn len_hint(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn take_all(&self) -> VecDeque<Arc<Cell>> {
        let mut q = lock(&self.q);
        self.len.store(0, Ordering::Relaxed);
        std::mem::take(&mut *q)
    }
}

struct Local {
    queue: RunQueue,
    parker: Parker,
}

/// What a worker thread knows about itself.
struct Tls {
    /// Address of the `Shared` this worker belongs to (identity only).
    shared: usize,
    index: usize,
    lifo: Option<Arc<Cell>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Tls>> = const { RefCell::new(None) };
    /// Round-robin position of a non-worker thread's pushes, seeded per thread so that
    /// different threads start on different workers.
    static REMOTE_NEXT: std::cell::Cell<usize> = std::cell::Cell::new({
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0);
        h.finish() as usize
    });
}

pub(crate) struct Queues {
    locals: Box<[Local]>,
    idle: Mutex<Vec<usize>>,
    num_idle: AtomicUsize,
    num_searching: AtomicUsize,
    pub(crate) shutdown: AtomicBool,
    /// Parked workers woken by `notify_idle` so far (for tests and diagnostics).
    wakeups: AtomicUsize,
}

impl Queues {
    pub(crate) fn new(workers: usize) -> Queues {
        Queues {
            locals: (0..workers)
                .map(|_| Local {
                    queue: RunQueue::new(),
                    parker: Parker::new(),
                })
                .collect(),
            idle: Mutex::new(Vec::with_capacity(workers)),
            num_idle: AtomicUsize::new(0),
            num_searching: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            wakeups: AtomicUsize::new(0),
        }
    }

    /// Pushes a runnable process. From one of this runtime's workers it goes to the LIFO
    /// slot or the local queue; from any other thread, to some worker's queue.
    pub(crate) fn schedule(&self, shared: &Shared, cell: Arc<Cell>, place: Place) {
        let me = shared as *const Shared as usize;
        let leftover = CURRENT
            .try_with(|cur| {
                let Ok(mut cur) = cur.try_borrow_mut() else {
                    return Some(cell);
                };
                match cur.as_mut() {
                    Some(tls) if tls.shared == me => {
                        let local = &self.locals[tls.index].queue;
                        // The LIFO slot only while nothing else waits here: a chain
                        // (request/reply, a ring) then runs back to back, while a process
                        // that many others message (fan-in) goes behind them and takes their
                        // messages in one run instead of one run per message.
                        let back = match place {
                            Place::Lifo if local.len_hint() == 0 => tls.lifo.replace(cell),
                            _ => Some(cell),
                        };
                        // A push to this worker's own queue announces itself only when
                        // the queue's length reaches a power of two: this worker is awake
                        // and runs its own queue anyway, so the wake-up is for parallelism
                        // only; the worker woken when the queue became non-empty steals
                        // half of what is there by then (and, the last searcher to find
                        // work, wakes the next one), and a growing queue still wakes more
                        // idle workers as it doubles. A burst of n pushes (a fan-out) pays
                        // for log2(n) fences, not n.
                        if let Some(back) = back {
                            if local.push_back(back).is_power_of_two() {
                                self.notify_idle();
                            }
                        }
                        None
                    }
                    _ => Some(cell),
                }
            })
            .unwrap_or(None);
        if let Some(cell) = leftover {
            let i = REMOTE_NEXT
                .try_with(|n| {
                    let i = n.get();
                    n.set(i.wrapping_add(1));
                    i
                })
                .unwrap_or(0);
            // No worker owns this thread's pushes: always announce them.
            let _ = self.locals[i % self.locals.len()].queue.push_back(cell);
            self.notify_idle();
        }
    }

    /// Wakes one parked worker if tasks may be waiting and nobody is looking for them.
    fn notify_idle(&self) {
        fence(Ordering::SeqCst);
        if self.num_idle.load(Ordering::SeqCst) == 0
            || self.num_searching.load(Ordering::SeqCst) > 0
        {
            return;
        }
        let woken = {
            let mut idle = lock(&self.idle);
            let w = idle.pop();
            if w.is_some() {
                self.num_idle.fetch_sub(1, Ordering::SeqCst);
                self.num_searching.fetch_add(1, Ordering::SeqCst);
            }
            w
        };
        if let Some(w) = woken {
            self.wakeups.fetch_add(1, Ordering::Relaxed);
            self.locals[w].parker.unpark();
        }
    }

    /// Called by a searcher that found a task. The last searcher wakes the next idle worker
    /// only if tasks are still queued: a pusher that skipped its wake-up because we were
    /// searching had pushed before its fence, and that fence precedes ours (it read our
    /// count before our decrement), so `has_work` after our fence sees its task.
    fn end_search(&self) {
        if self.num_searching.fetch_sub(1, Ordering::SeqCst) == 1 {
            fence(Ordering::SeqCst);
            if self.has_work() {
                self.notify_idle();
            }
        }
    }

    /// How many parked workers `notify_idle` has woken so far.
    pub(crate) fn wakeups(&self) -> usize {
        self.wakeups.load(Ordering::Relaxed)
    }

    fn has_work(&self) -> bool {
        self.locals.iter().any(|l| !l.queue.is_empty())
    }

    /// Parks worker `index` (see the module docs). `true` when it was woken by a notifier
    /// (and so counts as searching).
    fn park(&self, index: usize) -> bool {
        {
            let mut idle = lock(&self.idle);
            idle.push(index);
            self.num_idle.fetch_add(1, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);
        if self.has_work() || self.shutdown.load(Ordering::SeqCst) {
            let mut idle = lock(&self.idle);
            if let Some(pos) = idle.iter().position(|&i| i == index) {
                idle.swap_remove(pos);
                self.num_idle.fetch_sub(1, Ordering::SeqCst);
                return false;
            }
            drop(idle);
            // A notifier took us off the list and counted us as searching: take its token.
        }
        self.locals[index].parker.park(None);
        true
    }

    pub(crate) fn unpark_all(&self) {
        for l in self.locals.iter() {
            l.parker.unpark();
        }
    }

    /// Takes the older half of another worker's queue: the first task to run now, the rest
    /// into this worker's queue. `buf` is the thief's reused buffer (empty between calls).
    fn steal(&self, index: usize, buf: &mut VecDeque<Arc<Cell>>) -> Option<Arc<Cell>> {
        let n = self.locals.len();
        for i in 1..n {
            let victim = (index + i) % n;
            // The hint spares the victim's lock while a searcher polls; the exact check
            // before parking (`has_work`) does not rely on it.
            if self.locals[victim].queue.len_hint() == 0 {
                continue;
            }
            self.locals[victim].queue.steal_half(buf);
            let Some(first) = buf.pop_front() else {
                continue;
            };
            if !buf.is_empty() {
                self.locals[index].queue.append(buf);
            }
            return Some(first);
        }
        None
    }

    fn next_task(
        &self,
        index: usize,
        streak: &mut u32,
        buf: &mut VecDeque<Arc<Cell>>,
    ) -> Option<Arc<Cell>> {
        let lifo = CURRENT.with(|c| c.borrow_mut().as_mut().and_then(|t| t.lifo.take()));
        if let Some(cell) = lifo {
            if *streak < LIFO_LIMIT {
                *streak += 1;
                return Some(cell);
            }
            // Fairness: the slot's task goes behind whatever is queued here. No notify: this
            // worker takes the queue's head right now (the same task if nothing else waits),
            // and everything else in the queue was announced when it was pushed.
            let _ = self.locals[index].queue.push_back(cell);
        }
        *streak = 0;
        if let Some(cell) = self.locals[index].queue.pop_front() {
            return Some(cell);
        }
        self.steal(index, buf)
    }

    /// Drops every queued task (shutdown, after the workers stopped).
    pub(crate) fn clear(&self) {
        for l in self.locals.iter() {
            drop(l.queue.take_all());
        }
    }
}

/// The worker thread's loop.
pub(crate) fn worker_main(rt: Runtime, index: usize) {
    let shared: &Shared = &rt.shared;
    let me = shared as *const Shared as usize;
    CURRENT.with(|c| {
        *c.borrow_mut() = Some(Tls {
            shared: me,
            index,
            lifo: None,
        })
    });
    let q = &shared.queues;
    let mut streak: u32 = 0;
    let mut steal_buf: VecDeque<Arc<Cell>> = VecDeque::new();
    let mut searching = false;
    let mut spins: u32 = 0;
    while !q.shutdown.load(Ordering::Acquire) {
        match q.next_task(index, &mut streak, &mut steal_buf) {
            Some(cell) => {
                spins = 0;
                if searching {
                    searching = false;
                    q.end_search();
                }
                if let After::Requeue = run_process(&rt, &cell) {
                    q.schedule(shared, cell, Place::Back);
                }
            }
            None => {
                // Look a little longer before parking: a task pushed meanwhile is taken
                // without a wake-up, and while this worker counts as searching, pushers
                // skip the wake-up system call. Bounded: at most SEARCH_ROUNDS looks.
                if spins < SEARCH_ROUNDS {
                    if !searching {
                        searching = true;
                        q.num_searching.fetch_add(1, Ordering::SeqCst);
                    }
                    spins += 1;
                    if spins % 8 == 0 {
                        std::thread::yield_now();
                    } else {
                        for _ in 0..32 {
                            std::hint::spin_loop();
                        }
                    }
                    continue;
                }
                spins = 0;
                if searching {
                    q.num_searching.fetch_sub(1, Ordering::SeqCst);
                }
                searching = q.park(index);
            }
        }
    }
    let tls = CURRENT.with(|c| c.borrow_mut().take());
    drop(tls);
}

/// What to do with a process after one run.
#[must_use]
pub(crate) enum After {
    /// It is runnable again (yielded, or a message arrived while it ran): queue it.
    Requeue,
    /// It waits for a message or a timer.
    Idle,
    /// It exited.
    Exited,
}

/// Runs one step of a queued process. The caller must hold the right to run it (it popped
/// it from a queue, or its `notify` returned `true`).
pub(crate) fn run_process(rt: &Runtime, cell: &Arc<Cell>) -> After {
    let shared: &Shared = &rt.shared;
    let Body::Actor(slot) = &cell.body else {
        return After::Exited;
    };
    cell.state.start_run();
    let mut guard = lock(slot);
    let Some(Actor { process, own }) = guard.as_mut() else {
        return After::Exited; // unreachable: an exited process is never queued
    };
    let timed_out = own
        .wait_deadline
        .take()
        .is_some_and(|d| Instant::now() >= d);
    if timed_out {
        own.scan = 0;
    }
    if cell.has_signal.load(Ordering::SeqCst) {
        own.pull(cell); // apply exit signals even if the process never receives
    }
    let step = match own.pending_exit.take() {
        Some(reason) => Step::Exit(reason),
        None => {
            let mut cx = Context {
                rt,
                cell,
                own: &mut *own,
                budget: shared.config.reductions,
                timed_out,
            };
            let step = match catch_unwind(AssertUnwindSafe(|| process.resume(&mut cx))) {
                Ok(step) => step,
                Err(payload) => Step::Exit(ExitReason::Crashed(panic_message(payload))),
            };
            match own.pending_exit.take() {
                Some(reason) => Step::Exit(reason),
                None => step,
            }
        }
    };
    match step {
        Step::Wait { deadline } => {
            own.wait_deadline = deadline;
            let expired = match deadline {
                Some(d) if d > Instant::now() => {
                    if own.armed.map(|(armed, _)| armed) != Some(d) {
                        disarm(shared, &mut own.armed);
                        let id = shared.timers.insert(d, Action::Wake(Arc::clone(cell)));
                        own.armed = Some((d, id));
                    }
                    false
                }
                Some(_) => {
                    disarm(shared, &mut own.armed);
                    true
                }
                None => {
                    disarm(shared, &mut own.armed);
                    false
                }
            };
            drop(guard);
            if expired {
                cell.state.finish_yield();
                After::Requeue
            } else if cell.state.finish_wait() {
                After::Requeue
            } else {
                After::Idle
            }
        }
        Step::Yield => {
            disarm(shared, &mut own.armed);
            drop(guard);
            cell.state.finish_yield();
            After::Requeue
        }
        Step::Exit(reason) => {
            let actor = guard.take();
            drop(guard);
            if let Some(Actor { process, mut own }) = actor {
                shared.exit_process(cell, &mut own, reason);
                // The process's Drop is user code: a panic there must not take the worker.
                drop_quietly(own);
                drop_quietly(process);
            }
            After::Exited
        }
    }
}

pub(crate) fn disarm(shared: &Shared, armed: &mut Option<(Instant, u64)>) {
    if let Some((_, id)) = armed.take() {
        shared.timers.cancel(id);
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> Arc<str> {
    let msg: Arc<str> = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).into()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str().into()
    } else {
        "panic with a non-string payload".into()
    };
    // Dropping a payload can itself panic; keep the worker alive regardless.
    drop_quietly(payload);
    msg
}

/// `true` on a worker thread of any runtime.
pub(crate) fn on_worker() -> bool {
    CURRENT
        .try_with(|c| c.try_borrow().map_or(true, |c| c.is_some()))
        .unwrap_or(false)
}
