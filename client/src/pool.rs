//! Connections per address, opened lazily and replaced when they die.
//!
//! Each address gets [`ClientConfig::connections_per_host`] slots, used round-robin. A slot
//! dials on first use and again on the first use after its connection closed; a slot's dial
//! lock is held while dialling, so callers racing for a dead slot wait for one dial instead
//! of opening one each. Every request looks its connection up here, so the usual case (an
//! open connection) takes two short uncontended locks and no allocation.
//!
//! A slot whose dials keep failing, or whose connections keep closing right after they
//! opened (a node past its connection limit accepts and then closes), waits before dialling
//! again: [`ClientConfig::retry_backoff`] doubled per failure after the second, up to
//! [`crate::config::RETRY_BACKOFF_MAX`]. Meanwhile its requests fail at once with
//! [`ClientError::Connect`] instead of each opening a connection the node drops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::ClientConfig;
use crate::connection::Connection;
use crate::error::ClientError;

/// A connection that closes sooner than this after it opened counts as a failed dial.
const SHORT_LIVED: Duration = Duration::from_secs(1);

/// One connection slot.
#[derive(Default)]
struct Slot {
    /// The slot's connection (possibly closed); the lock is held only to clone or replace it.
    open: Mutex<Option<Arc<Connection>>>,
    /// Held while dialling; guards the slot's record of failed dials.
    dialling: tokio::sync::Mutex<Redial>,
}

/// Failed dials of a slot in a row, and when it may dial again.
#[derive(Default)]
struct Redial {
    failures: u32,
    not_before: Option<Instant>,
    last_error: String,
}

impl Redial {
    fn failed(&mut self, base: Duration, why: String) {
        self.failures = self.failures.saturating_add(1);
        // The first failure redials at once (a node restarted); later ones back off.
        let pause = match self.failures {
            0 | 1 => Duration::ZERO,
            n => crate::retry::doubled(base, n - 2),
        };
        self.not_before = Some(Instant::now() + pause);
        self.last_error = why;
    }
}

impl Slot {
    /// The slot's connection if it is open.
    fn current(&self) -> Option<Arc<Connection>> {
        lock(&self.open).as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// The slot's open connection, dialled if it has none.
    ///
    /// # Errors
    /// [`ClientError::Connect`] if dialling fails, or if the slot is waiting after failures.
    async fn get_or_dial(
        &self,
        address: &str,
        config: &ClientConfig,
    ) -> Result<Arc<Connection>, ClientError> {
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        let mut redial = self.dialling.lock().await;
        // Whoever held the dial lock before may have dialled already.
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        if let Some(closed) = lock(&self.open).take() {
            if closed.opened().elapsed() < SHORT_LIVED {
                redial
                    .failed(config.retry_backoff, "the node closed the connection at once".into());
            } else {
                redial.failures = 0;
                redial.not_before = None;
            }
        }
        let now = Instant::now();
        if let Some(wait) =
            redial.not_before.and_then(|t| t.checked_duration_since(now)).filter(|w| !w.is_zero())
        {
            let why = format!(
                "not redialled for another {} ms after {} failed connections (last: {})",
                wait.as_millis(),
                redial.failures,
                redial.last_error
            );
            let source = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, why);
            return Err(ClientError::Connect { address: address.to_owned(), source });
        }
        match Connection::open(address, config).await {
            Ok(connection) => {
                let connection = Arc::new(connection);
                *lock(&self.open) = Some(Arc::clone(&connection));
                Ok(connection)
            }
            Err(error) => {
                redial.failed(config.retry_backoff, error.to_string());
                Err(error)
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a single read or replacement: a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The connections of one address.
struct HostPool {
    address: String,
    /// Never empty.
    slots: Vec<Slot>,
    next_slot: AtomicUsize,
}

impl HostPool {
    async fn connection(&self, config: &ClientConfig) -> Result<Arc<Connection>, ClientError> {
        let index = self.next_slot.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        #[expect(clippy::indexing_slicing, reason = "index is reduced modulo the length")]
        self.slots[index].get_or_dial(&self.address, config).await
    }
}

/// Every address's connections.
pub(crate) struct Pools {
    hosts: Mutex<HashMap<String, Arc<HostPool>>>,
}

impl Pools {
    pub(crate) fn new() -> Pools {
        Pools { hosts: Mutex::new(HashMap::new()) }
    }

    /// An open connection to `address`, dialling one if its slot has none.
    ///
    /// # Errors
    /// [`ClientError::Connect`] if dialling fails.
    pub(crate) async fn connection(
        &self,
        address: &str,
        config: &ClientConfig,
    ) -> Result<Arc<Connection>, ClientError> {
        self.host(address, config).connection(config).await
    }

    /// Dials every slot of `address` that has no open connection; returns how many of its
    /// slots hold one afterwards.
    pub(crate) async fn open_all(&self, address: &str, config: &ClientConfig) -> usize {
        let host = self.host(address, config);
        let mut open = 0;
        for slot in &host.slots {
            if slot.get_or_dial(address, config).await.is_ok() {
                open += 1;
            }
        }
        open
    }

    fn host(&self, address: &str, config: &ClientConfig) -> Arc<HostPool> {
        let mut hosts = lock(&self.hosts);
        if let Some(host) = hosts.get(address) {
            return Arc::clone(host);
        }
        let host = Arc::new(HostPool {
            address: address.to_owned(),
            slots: (0..config.connections_per_host.max(1)).map(|_| Slot::default()).collect(),
            next_slot: AtomicUsize::new(0),
        });
        hosts.insert(address.to_owned(), Arc::clone(&host));
        host
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A node past its connection limit: accepts every connection and closes it at once.
    fn dropping_listener() -> (String, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        (address, accepted)
    }

    #[tokio::test]
    async fn connections_closed_at_once_are_redialled_with_backoff_not_per_request() {
        let (address, accepted) = dropping_listener();
        let config =
            ClientConfig { retry_backoff: Duration::from_millis(200), ..Default::default() };
        let pools = Pools::new();
        let mut refused = None;
        for _ in 0..20 {
            match pools.connection(&address, &config).await {
                Ok(connection) => {
                    let deadline = Instant::now() + Duration::from_secs(5);
                    while !connection.is_closed() {
                        assert!(Instant::now() < deadline, "the node's close was never seen");
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                Err(error) => refused = Some(error.to_string()),
            }
        }
        // First dial, one immediate redial, then a 200 ms pause the loop does not outlast.
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "dials: {}",
            accepted.load(Ordering::SeqCst)
        );
        let refused = refused.expect("requests during the pause fail at once");
        assert!(
            refused.contains("not redialled") && refused.contains("closed the connection"),
            "{refused}"
        );
    }
}
