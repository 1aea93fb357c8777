//! Socket readiness for busy shards: one epoll call per scheduler round instead of one
//! io_uring poll per socket read.
//!
//! # Why
//! A glommio socket read that finds no data arms an io_uring poll. When data arrives while
//! the shard's thread is running (the usual case on a busy shard), the kernel delivers that
//! poll's completion as task work and interrupts the thread with an inter-processor
//! interrupt to run it. Measured on a pinned shard serving GETs: about 0.8 reschedule
//! interrupts per request and about a third of the shard's CPU, where Redis, with epoll,
//! takes none (BENCHMARKS.md, "Where a GET's time goes").
//!
//! # How
//! While its shard has requests in flight, or while the rounds below already run for
//! other readers, a connection reader that finds no data parks here
//! ([`Registration::wait`]) instead of arming a poll. (Requests that finish without
//! waiting, as most GETs do, leave few in flight: with a connection per client task, the
//! second condition is what keeps 50 readers on epoll; measured 42-44k -> 53-54k GET/s.)
//! One poller task per shard asks epoll, without blocking, for every ready socket
//! (edge-triggered), wakes their readers, and waits for the next round on a short timer
//! (50 µs, doubling while rounds are empty, at most 200 µs), so the executor reaps its
//! other I/O in between and an unsaturated shard wakes per round, not per request. When rounds keep coming back empty (about 1 ms) the
//! shard is idle: the poller releases the parked readers, which go back to glommio's reads,
//! whose polls let the executor sleep until a request comes.
//!
//! # Invariants
//! - A reader parks only right after a read returned `EAGAIN`, with no await in between;
//!   epoll's edge fires for any data that arrives after that read, and the poller runs on
//!   the same thread, so a parked reader's data is never missed.
//! - A parked reader is woken by an event on its socket, by a release, or by dropping its
//!   registration; the poller runs while any reader is parked.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use shoal_engine::runtime::{sleep, spawn, Queue};

/// Empty epoll rounds in a row after which the shard counts as idle and parked readers go
/// back to glommio's reads (about 1 ms without data, with the intervals below).
const EMPTY_ROUNDS_MAX: u32 = 6;
/// Pause before a round that follows one with data. The rounds run on a glommio timer, so
/// the executor reaps its io_uring completions and runs other tasks in between, and a shard
/// with nothing else to do sleeps until the timer rather than for each socket. Measured
/// (two shards sharing two vCPUs with the generator, 50 connections): 20 µs wakes the shard
/// so often that it gains nothing over one poll per read (33k GET/s); 50 µs with the
/// backoff below, 42.5k GET/s; durable inserts 18.6k -> 23.7k/s.
const ROUND_INTERVAL_MIN: Duration = Duration::from_micros(50);
/// Longest pause: each empty round doubles the pause up to this, so a quiet moment costs
/// few wake-ups while a parked reader's data waits at most this long.
const ROUND_INTERVAL_MAX: Duration = Duration::from_micros(200);

/// The pause before a round that follows `empty_rounds` rounds without data.
fn round_interval(empty_rounds: u32) -> Duration {
    ROUND_INTERVAL_MIN.saturating_mul(1 << empty_rounds.min(8)).min(ROUND_INTERVAL_MAX)
}

/// Events taken per epoll call.
const EVENTS_PER_ROUND: usize = 64;

/// Why [`Registration::wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The socket had an event: read it.
    Ready,
    /// The shard went idle: read through glommio (which may let the thread sleep).
    Released,
}

/// What to wake for a parked reader, and where to say why.
type ParkedReader = (Waker, Rc<Cell<Option<Wake>>>);

/// One shard's epoll instance and the readers parked on it.
pub struct Readiness {
    epoll: RawFd,
    parked: RefCell<HashMap<u64, ParkedReader>>,
    next_token: Cell<u64>,
    polling: Cell<bool>,
    rounds: Cell<u64>,
}

impl Drop for Readiness {
    fn drop(&mut self) {
        // SAFETY: `epoll` is a descriptor this value opened and nothing else closes.
        unsafe { libc::close(self.epoll) };
    }
}

thread_local! {
    static SHARD_READINESS: RefCell<Option<Rc<Readiness>>> = const { RefCell::new(None) };
}

impl Readiness {
    /// This thread's (shard's) instance, created on first use.
    ///
    /// # Errors
    /// `epoll_create1` failed.
    pub fn of_this_shard() -> io::Result<Rc<Readiness>> {
        SHARD_READINESS.with(|slot| {
            if let Some(r) = slot.borrow().as_ref() {
                return Ok(r.clone());
            }
            // SAFETY: plain syscall; the result is checked.
            let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            if epoll < 0 {
                return Err(io::Error::last_os_error());
            }
            let r = Rc::new(Readiness {
                epoll,
                parked: RefCell::default(),
                next_token: Cell::new(1),
                polling: Cell::new(false),
                rounds: Cell::new(0),
            });
            *slot.borrow_mut() = Some(r.clone());
            Ok(r)
        })
    }

    /// Epoll rounds run so far (for tests and metrics).
    pub fn rounds(&self) -> u64 {
        self.rounds.get()
    }

    /// Readers parked now.
    pub fn parked(&self) -> usize {
        self.parked.borrow().len()
    }

    fn start_polling(self: &Rc<Self>) {
        if self.polling.replace(true) {
            return;
        }
        let this = self.clone();
        spawn(Queue::Foreground, async move { this.poll_loop().await });
    }

    async fn poll_loop(self: Rc<Self>) {
        let mut empty_rounds = 0;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_ROUND];
        loop {
            sleep(round_interval(empty_rounds)).await;
            self.rounds.set(self.rounds.get() + 1);
            // SAFETY: `events` is a valid buffer of EVENTS_PER_ROUND entries; timeout 0
            // never blocks.
            let n = unsafe {
                libc::epoll_wait(self.epoll, events.as_mut_ptr(), EVENTS_PER_ROUND as i32, 0)
            };
            let n = usize::try_from(n).unwrap_or(0);
            let mut woke = 0;
            for event in events.iter().take(n) {
                let token = event.u64;
                let entry = self.parked.borrow_mut().remove(&token);
                if let Some((waker, outcome)) = entry {
                    outcome.set(Some(Wake::Ready));
                    waker.wake();
                    woke += 1;
                }
            }
            empty_rounds = if woke == 0 { empty_rounds + 1 } else { 0 };
            if empty_rounds >= EMPTY_ROUNDS_MAX {
                let released: Vec<_> = self.parked.borrow_mut().drain().collect();
                for (_, (waker, outcome)) in released {
                    outcome.set(Some(Wake::Released));
                    waker.wake();
                }
            }
            if self.parked.borrow().is_empty() {
                self.polling.set(false);
                return;
            }
        }
    }
}

/// A socket registered with its shard's epoll (edge-triggered, readable and hang-up).
pub struct Registration {
    readiness: Rc<Readiness>,
    fd: RawFd,
    token: u64,
}

impl Registration {
    /// Registers `fd` with this shard's epoll; `None` (reads go through glommio alone) if
    /// epoll refuses, e.g. at a descriptor limit.
    pub fn of_this_shard(fd: RawFd) -> Option<Registration> {
        match Readiness::of_this_shard().and_then(|r| Registration::new(r, fd)) {
            Ok(registration) => Some(registration),
            Err(e) => {
                tracing::debug!(error = %e, "epoll registration failed; reading through glommio");
                None
            }
        }
    }

    /// Registers `fd`, which must stay open until the registration is dropped.
    ///
    /// # Errors
    /// `epoll_ctl` failed.
    pub fn new(readiness: Rc<Readiness>, fd: RawFd) -> io::Result<Registration> {
        let token = readiness.next_token.get();
        readiness.next_token.set(token + 1);
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: token,
        };
        // SAFETY: `fd` is open (caller's contract) and `event` is a valid event.
        let rc = unsafe { libc::epoll_ctl(readiness.epoll, libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Registration { readiness, fd, token })
    }

    /// Waits for an event on the socket or for the shard to go idle. Call only right after
    /// a read of the socket found no data (see the module's invariants).
    pub async fn wait(&self) -> Wake {
        /// Unparks on drop: a wait abandoned (a timeout won the race) leaves no entry.
        struct Parked<'a>(&'a Registration);
        impl Drop for Parked<'_> {
            fn drop(&mut self) {
                self.0.readiness.parked.borrow_mut().remove(&self.0.token);
            }
        }
        let outcome: Rc<Cell<Option<Wake>>> = Rc::default();
        let mut parked: Option<Parked<'_>> = None;
        std::future::poll_fn(|cx| {
            if let Some(wake) = outcome.get() {
                return Poll::Ready(wake);
            }
            let mut map = self.readiness.parked.borrow_mut();
            match map.get_mut(&self.token) {
                Some(entry) => entry.0.clone_from(cx.waker()),
                None => {
                    map.insert(self.token, (cx.waker().clone(), outcome.clone()));
                    drop(map);
                    parked = Some(Parked(self));
                    self.readiness.start_polling();
                }
            }
            Poll::Pending
        })
        .await
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.readiness.parked.borrow_mut().remove(&self.token);
        // SAFETY: the descriptor is still open (caller's contract); a null event is allowed
        // for EPOLL_CTL_DEL.
        unsafe {
            libc::epoll_ctl(
                self.readiness.epoll,
                libc::EPOLL_CTL_DEL,
                self.fd,
                std::ptr::null_mut(),
            )
        };
    }
}

/// Reads what the socket read through `reader` has, waiting for it if need be: parked on
/// the shard's epoll while `busy()` says the shard has other work, through glommio
/// otherwise, or always without a registration (which must be this socket's).
///
/// # Errors
/// The socket's error.
pub async fn read_some(
    registration: Option<&Registration>,
    busy: impl Fn() -> bool,
    reader: &mut (impl futures_lite::AsyncRead + Unpin),
    chunk: &mut [u8],
) -> io::Result<usize> {
    if let Some(registration) = registration {
        loop {
            // Our own `recv` first, busy or not: a glommio read that finds data arms an
            // io_uring poll for the next one at once (an IPI when it fires on a running
            // shard); measured, going to glommio directly when idle cost 0.05 IPIs and
            // 1.5 µs of system time per GET more.
            if let Some(result) = try_recv(registration.fd, chunk) {
                return result;
            }
            // No await since the read above: see the module's invariants. A reader joins
            // the epoll rounds while the shard is busy, or while they run anyway for other
            // readers (requests that finish without waiting leave few in flight to say so).
            let park = busy() || registration.readiness.polling.get();
            if !park || registration.wait().await == Wake::Released {
                break;
            }
        }
    }
    futures_lite::AsyncReadExt::read(reader, chunk).await
}

/// Reads what `fd` has without blocking: `None` if nothing is there yet.
fn try_recv(fd: RawFd, buf: &mut [u8]) -> Option<io::Result<usize>> {
    loop {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n >= 0 {
            return Some(Ok(usize::try_from(n).unwrap_or(0)));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::WouldBlock => return None,
            io::ErrorKind::Interrupted => continue,
            _ => return Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::time::Instant;

    use futures_lite::AsyncWriteExt;
    use glommio::net::{TcpListener, TcpStream};
    use shoal_engine::runtime::run_test;

    use super::*;

    async fn connected_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let client = TcpStream::connect(address).await.expect("connect");
        let server = listener.accept().await.expect("accept");
        (client, server)
    }

    #[test]
    fn a_parked_reader_wakes_when_its_data_arrives() {
        run_test(|| async {
            let (mut client, server) = connected_pair().await;
            let fd = server.as_raw_fd();
            let registration = Registration::of_this_shard(fd).expect("epoll registration");
            let readiness = registration.readiness.clone();
            let mut buf = [0u8; 16];
            assert!(try_recv(fd, &mut buf).is_none(), "nothing was sent yet");
            let rounds_before = readiness.rounds();
            // `zip` polls the wait first (it parks), then sends at once.
            let (wake, ()) = futures_lite::future::zip(registration.wait(), async {
                assert_eq!(readiness.parked(), 1, "the reader parked");
                client.write_all(b"hello").await.expect("write");
            })
            .await;
            assert_eq!(wake, Wake::Ready);
            assert_eq!(try_recv(fd, &mut buf).expect("data").expect("read"), 5);
            assert!(readiness.rounds() > rounds_before, "epoll, not glommio, woke it");
            assert_eq!(readiness.parked(), 0);
        });
    }

    #[test]
    fn a_parked_reader_is_released_when_nothing_arrives() {
        run_test(|| async {
            let (_client, server) = connected_pair().await;
            let registration =
                Registration::of_this_shard(server.as_raw_fd()).expect("epoll registration");
            let started = Instant::now();
            assert_eq!(registration.wait().await, Wake::Released);
            let quiet: Duration = (0..EMPTY_ROUNDS_MAX).map(round_interval).sum();
            assert!(started.elapsed() >= quiet, "released only after the empty rounds");
            assert_eq!(registration.readiness.parked(), 0);
        });
    }

    #[test]
    fn an_abandoned_wait_leaves_nothing_parked() {
        run_test(|| async {
            let (_client, server) = connected_pair().await;
            let registration =
                Registration::of_this_shard(server.as_raw_fd()).expect("epoll registration");
            let waited =
                futures_lite::future::or(async { Some(registration.wait().await) }, async {
                    futures_lite::future::yield_now().await;
                    None
                })
                .await;
            assert_eq!(waited, None, "the wait lost the race");
            assert_eq!(registration.readiness.parked(), 0);
        });
    }

    #[test]
    fn a_reader_joins_the_rounds_that_run_for_another_reader() {
        run_test(|| async {
            let (_client_a, server_a) = connected_pair().await;
            let (mut client_b, mut server_b) = connected_pair().await;
            let first = Registration::of_this_shard(server_a.as_raw_fd()).expect("epoll");
            let second = Registration::of_this_shard(server_b.as_raw_fd());
            let readiness = first.readiness.clone();
            let mut buf = [0u8; 8];
            // `zip` polls in order: the first reader parks (the rounds start), then the
            // second reads with the shard not busy, then the check and the write.
            let (wake, (n, ())) = futures_lite::future::zip(
                first.wait(),
                futures_lite::future::zip(
                    read_some(second.as_ref(), || false, &mut server_b, &mut buf),
                    async {
                        assert_eq!(readiness.parked(), 2, "the second reader joined the rounds");
                        client_b.write_all(b"xy").await.expect("write");
                    },
                ),
            )
            .await;
            assert_eq!(n.expect("read"), 2);
            assert_eq!(wake, Wake::Released, "the first reader, without data, is released");
        });
    }

    #[test]
    fn read_some_waits_on_epoll_only_while_the_shard_is_busy() {
        run_test(|| async {
            let (mut client, mut server) = connected_pair().await;
            let registration = Registration::of_this_shard(server.as_raw_fd());
            let readiness = Readiness::of_this_shard().expect("epoll");
            let mut buf = [0u8; 8];

            // Busy: the reader parks on epoll and the poller's round wakes it.
            let writer = spawn(Queue::Foreground, async move {
                client.write_all(b"abc").await.expect("write");
                client
            });
            let before = readiness.rounds();
            let n = read_some(registration.as_ref(), || true, &mut server, &mut buf)
                .await
                .expect("read");
            assert_eq!(buf.get(..n), Some(&b"abc"[..]));
            assert!(readiness.rounds() > before, "read through epoll");
            let mut client = writer.join().await.expect("writer ran");

            // Idle: glommio's read, no epoll round.
            let writer = spawn(Queue::Foreground, async move {
                client.write_all(b"de").await.expect("write");
                client
            });
            let before = readiness.rounds();
            let n = read_some(registration.as_ref(), || false, &mut server, &mut buf)
                .await
                .expect("read");
            assert_eq!(buf.get(..n), Some(&b"de"[..]));
            assert_eq!(readiness.rounds(), before, "read through glommio");
            let client = writer.join().await.expect("writer ran");

            // A closed peer reads as end of stream on either path.
            drop(client);
            let n = read_some(registration.as_ref(), || true, &mut server, &mut buf)
                .await
                .expect("read");
            assert_eq!(n, 0);
        });
    }
}
