//! Connections per address, opened lazily and replaced when they die.
//!
//! Each address gets [`ClientConfig::connections_per_host`] slots, used round-robin. A slot
//! dials on first use and again on the first use after its connection closed; the slot's
//! lock is held while dialling, so callers racing for a dead slot wait for one dial instead
//! of opening one each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::ClientConfig;
use crate::connection::Connection;
use crate::error::ClientError;

type Slot = tokio::sync::Mutex<Option<Arc<Connection>>>;

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
        let mut slot = self.slots[index].lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(connection));
        }
        *slot = None;
        let connection = Arc::new(Connection::open(&self.address, config).await?);
        *slot = Some(Arc::clone(&connection));
        Ok(connection)
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
            let mut slot = slot.lock().await;
            if slot.as_ref().is_some_and(|c| !c.is_closed()) {
                open += 1;
                continue;
            }
            if let Ok(connection) = Connection::open(address, config).await {
                *slot = Some(Arc::new(connection));
                open += 1;
            }
        }
        open
    }

    fn host(&self, address: &str, config: &ClientConfig) -> Arc<HostPool> {
        let mut hosts = self.hosts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let host = hosts.entry(address.to_owned()).or_insert_with(|| {
            Arc::new(HostPool {
                address: address.to_owned(),
                slots: (0..config.connections_per_host.max(1)).map(|_| Slot::default()).collect(),
                next_slot: AtomicUsize::new(0),
            })
        });
        Arc::clone(host)
    }
}
