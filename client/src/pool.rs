//! Connections per address, opened lazily and replaced when they die.
//!
//! Each address gets [`ClientConfig::connections_per_host`] slots, used round-robin. A slot
//! dials on first use and again on the first use after its connection closed; a slot's dial
//! lock is held while dialling, so callers racing for a dead slot wait for one dial instead
//! of opening one each. Every request looks its connection up here, so the usual case (an
//! open connection) takes two short uncontended locks and no allocation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::ClientConfig;
use crate::connection::Connection;
use crate::error::ClientError;

/// One connection slot.
#[derive(Default)]
struct Slot {
    /// The slot's connection (possibly closed); the lock is held only to clone or replace it.
    open: Mutex<Option<Arc<Connection>>>,
    /// Held while dialling.
    dialling: tokio::sync::Mutex<()>,
}

impl Slot {
    /// The slot's connection if it is open.
    fn current(&self) -> Option<Arc<Connection>> {
        lock(&self.open).as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// The slot's open connection, dialled if it has none.
    async fn get_or_dial(
        &self,
        address: &str,
        config: &ClientConfig,
    ) -> Result<Arc<Connection>, ClientError> {
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        let _dialling = self.dialling.lock().await;
        // Whoever held the dial lock before may have dialled already.
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        let connection = Arc::new(Connection::open(address, config).await?);
        *lock(&self.open) = Some(Arc::clone(&connection));
        Ok(connection)
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
