//! Spare I/O threads: when a connection's I/O thread has finished its socket, it waits a while
//! for the next accepted socket instead of exiting. Creating and ending a thread (clone, stack
//! set-up, the exit's stack release) costs more than a short connection's whole protocol work,
//! so a server under connection churn reuses its threads.
//!
//! Invariants:
//! - A thread serves one socket at a time: every live socket still has its own I/O thread.
//! - Only the accept thread hands sockets over ([`Pool::hand_over`]); `Server::stop` closes
//!   the pool ([`Pool::close`]) once that thread has ended, so no thread waits here after.
//! - `State::spare` = threads waiting in [`Pool::next`] minus sockets handed over and not
//!   received yet. A waiting thread leaves on its timeout only by taking one from `spare`
//!   while it is above zero, so a socket handed over always has a thread that will receive
//!   it. At most `Options::spare_io_threads` threads wait.
//! - The `state` lock is held for counter updates only, never across a blocking call.

use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

enum Job {
    Socket(TcpStream, SocketAddr),
    Quit,
}

struct State {
    spare: usize,
    closed: bool,
}

pub(crate) struct Pool {
    tx: Sender<Job>,
    rx: Receiver<Job>,
    state: Mutex<State>,
    max_spare: usize,
    timeout: Duration,
}

impl Pool {
    pub(crate) fn new(max_spare: usize, timeout: Duration) -> Pool {
        let (tx, rx) = crossbeam_channel::unbounded();
        Pool {
            tx,
            rx,
            state: Mutex::new(State {
                spare: 0,
                closed: false,
            }),
            max_spare,
            timeout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives the socket to a spare thread, or hands it back when there is none (the caller
    /// then starts a thread).
    pub(crate) fn hand_over(
        &self,
        sock: TcpStream,
        peer: SocketAddr,
    ) -> Result<(), (TcpStream, SocketAddr)> {
        {
            let mut st = self.lock();
            if st.closed || st.spare == 0 {
                return Err((sock, peer));
            }
            st.spare -= 1;
        }
        // Cannot fail: the pool holds the receiving end.
        let _ = self.tx.send(Job::Socket(sock, peer));
        Ok(())
    }

    /// Called by a thread whose socket is finished: waits up to the timeout for another.
    /// `None`: the thread should end (too many spares, timed out, or the pool is closed).
    pub(crate) fn next(&self) -> Option<(TcpStream, SocketAddr)> {
        {
            let mut st = self.lock();
            if st.closed || st.spare >= self.max_spare {
                return None;
            }
            st.spare += 1;
        }
        loop {
            match self.rx.recv_timeout(self.timeout) {
                Ok(Job::Socket(sock, peer)) => return Some((sock, peer)),
                Ok(Job::Quit) | Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => {
                    let mut st = self.lock();
                    if st.spare > 0 {
                        st.spare -= 1;
                        return None;
                    }
                    // Every waiting thread is spoken for: a socket (or a Quit) is on its way.
                }
            }
        }
    }

    /// No more hand-overs; the waiting threads end.
    pub(crate) fn close(&self) {
        let n = {
            let mut st = self.lock();
            st.closed = true;
            std::mem::take(&mut st.spare)
        };
        for _ in 0..n {
            let _ = self.tx.send(Job::Quit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::Arc;

    fn pair() -> (TcpStream, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let peer = c.local_addr().unwrap();
        (l.accept().unwrap().0, peer)
    }

    #[test]
    fn no_spare_thread_hands_the_socket_back() {
        let p = Pool::new(4, Duration::from_secs(5));
        let (s, a) = pair();
        assert!(p.hand_over(s, a).is_err());
    }

    #[test]
    fn a_waiting_thread_receives_the_socket() {
        let p = Arc::new(Pool::new(4, Duration::from_secs(10)));
        let p2 = p.clone();
        let t = std::thread::spawn(move || p2.next().map(|(_, a)| a));
        let (s, a) = pair();
        // Retry until the thread is waiting (it registers itself before it blocks).
        let mut job = Some((s, a));
        while let Some((s, a)) = job.take() {
            if let Err(back) = p.hand_over(s, a) {
                job = Some(back);
                std::thread::yield_now();
            }
        }
        assert_eq!(t.join().unwrap(), Some(a));
    }

    #[test]
    fn spares_are_bounded_time_out_and_end_on_close() {
        let p = Pool::new(0, Duration::from_secs(10));
        assert!(p.next().is_none(), "max_spare 0: never waits");

        let p = Pool::new(4, Duration::from_millis(20));
        assert!(p.next().is_none(), "timed out");
        assert!(p.lock().spare == 0);

        let p = Arc::new(Pool::new(4, Duration::from_secs(30)));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || p.next().is_none())
            })
            .collect();
        while p.lock().spare < 3 {
            std::thread::yield_now();
        }
        p.close();
        for w in waiters {
            assert!(w.join().unwrap(), "close ends every waiting thread");
        }
        let (s, a) = pair();
        assert!(p.hand_over(s, a).is_err(), "closed: no hand-over");
        assert!(p.next().is_none(), "closed: no waiting");
    }
}
