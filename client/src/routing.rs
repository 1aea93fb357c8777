//! Where a request goes: the shard (core) that owns its partition, or a seed node.
//!
//! A node advertises its shard map in [`ClusterInfo`]. The client trusts it only when the
//! node names the functions this build implements (`xxh3-64` tokens, `ignore-msb` sharding
//! with 12 bits, the ones in [`shoal_types::partitioner`]); otherwise every request goes to
//! a seed's main address and the node forwards it, which is correct, one hop slower.
//!
//! Only requests on one partition key are shard-routed: get, put, delete and update. Their
//! key's partition attribute is found by the table's key schema, which the client describes
//! once per table and caches ([`TableKeys`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use shoal_net::{ClusterInfo, Item, Request};
use shoal_types::partitioner::{shard_of, token, SHARDS_MAX, SHARD_IGNORE_MSB_BITS};
use shoal_types::KeyValue;

use crate::error::ClientError;

/// The token function this client implements, as a node names it.
pub(crate) const PARTITIONER: &str = "xxh3-64";
/// The shard function this client implements, as a node names it.
pub(crate) const SHARDING: &str = "ignore-msb";

/// A node's shard addresses, indexed by shard number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShardMap {
    /// Never empty, at most [`SHARDS_MAX`] long.
    addresses: Vec<String>,
}

impl ShardMap {
    /// The shard map of `info`, if the node's functions are ours and its shards are numbered
    /// `0..n`. `seed` is the address the info came from: an advertised wildcard host
    /// (`0.0.0.0`, `::`) is replaced by the seed's host.
    pub(crate) fn from_cluster_info(info: &ClusterInfo, seed: &str) -> Option<ShardMap> {
        let ours = info.partitioner == PARTITIONER
            && info.sharding == SHARDING
            && u32::from(info.sharding_ignore_msb) == SHARD_IGNORE_MSB_BITS;
        if !ours || info.shards.is_empty() || info.shards.len() > SHARDS_MAX as usize {
            return None;
        }
        let mut shards = info.shards.clone();
        shards.sort_by_key(|(shard, _)| *shard);
        let numbered = shards.iter().enumerate().all(|(i, (shard, _))| *shard as usize == i);
        if !numbered {
            return None;
        }
        let addresses = shards.into_iter().map(|(_, address)| reachable(&address, seed)).collect();
        Some(ShardMap { addresses })
    }

    /// The address of the shard that owns `partition`.
    pub(crate) fn address_of(&self, partition: &KeyValue) -> Option<&str> {
        let count = u32::try_from(self.addresses.len()).ok()?;
        let shard = shard_of(token(partition), count);
        self.addresses.get(shard as usize).map(String::as_str)
    }
}

/// `address` with a wildcard IP replaced by the host of `seed`.
fn reachable(address: &str, seed: &str) -> String {
    let Ok(parsed) = address.parse::<SocketAddr>() else { return address.to_owned() };
    if !parsed.ip().is_unspecified() {
        return address.to_owned();
    }
    match seed.rsplit_once(':') {
        Some((host, _)) => format!("{host}:{}", parsed.port()),
        None => address.to_owned(),
    }
}

/// The table and key of a request on one partition.
pub(crate) fn single_partition(request: &Request) -> Option<(&str, &Item)> {
    match request {
        Request::GetItem { table, key, .. }
        | Request::DeleteItem { table, key, .. }
        | Request::UpdateItem { table, key, .. } => Some((table, key)),
        Request::PutItem { table, item, .. } => Some((table, item)),
        _ => None,
    }
}

/// The partition key value of `key`, whose attribute `name` the table's schema names.
///
/// # Errors
/// [`ClientError::InvalidArgument`] if the attribute is missing or not a string, number or
/// binary.
pub(crate) fn partition_value(
    table: &str,
    key: &Item,
    name: &str,
) -> Result<KeyValue, ClientError> {
    let value = key.get(name).ok_or_else(|| {
        ClientError::InvalidArgument(format!(
            "the key for table {table:?} lacks its partition key attribute {name:?}"
        ))
    })?;
    KeyValue::try_from(value.clone()).map_err(|error| {
        ClientError::InvalidArgument(format!("partition key {name:?} of table {table:?}: {error}"))
    })
}

/// Partition key attribute names by table, learnt from descriptions.
#[derive(Debug, Default)]
pub(crate) struct TableKeys {
    names: Mutex<HashMap<String, String>>,
}

impl TableKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.names.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn get(&self, table: &str) -> Option<String> {
        self.lock().get(table).cloned()
    }

    pub(crate) fn insert(&self, table: &str, partition_key: &str) {
        self.lock().insert(table.to_owned(), partition_key.to_owned());
    }

    pub(crate) fn forget(&self, table: &str) {
        self.lock().remove(table);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(shards: Vec<(u32, &str)>) -> ClusterInfo {
        ClusterInfo {
            partitioner: PARTITIONER.into(),
            sharding: SHARDING.into(),
            sharding_ignore_msb: 12,
            shards: shards.into_iter().map(|(s, a)| (s, a.to_owned())).collect(),
            ..ClusterInfo::default()
        }
    }

    #[test]
    fn accepts_only_our_functions_and_dense_shards() {
        let good = info(vec![(1, "h:2"), (0, "h:1")]);
        let map = ShardMap::from_cluster_info(&good, "h:0").unwrap();
        assert_eq!(map.addresses, vec!["h:1".to_owned(), "h:2".to_owned()]);
        let mut other = good.clone();
        other.partitioner = "murmur3".into();
        assert!(ShardMap::from_cluster_info(&other, "h:0").is_none());
        let mut other = good.clone();
        other.sharding_ignore_msb = 0;
        assert!(ShardMap::from_cluster_info(&other, "h:0").is_none());
        assert!(ShardMap::from_cluster_info(&info(vec![(0, "a"), (2, "b")]), "h:0").is_none());
        assert!(ShardMap::from_cluster_info(&info(vec![]), "h:0").is_none());
    }

    #[test]
    fn wildcard_hosts_take_the_seed_host() {
        let map = ShardMap::from_cluster_info(&info(vec![(0, "0.0.0.0:7401")]), "db1:7400");
        assert_eq!(map.unwrap().addresses, vec!["db1:7401".to_owned()]);
    }

    #[test]
    fn routes_by_shard_of_token() {
        let map = ShardMap::from_cluster_info(&info(vec![(0, "a:1"), (1, "b:2")]), "s:0").unwrap();
        for i in 0..50 {
            let key = KeyValue::S(format!("k{i}"));
            let expected = if shard_of(token(&key), 2) == 0 { "a:1" } else { "b:2" };
            assert_eq!(map.address_of(&key), Some(expected));
        }
    }

    #[test]
    fn partition_value_checks_presence_and_type() {
        let mut key = Item::new();
        assert!(matches!(partition_value("t", &key, "pk"), Err(ClientError::InvalidArgument(_))));
        key.insert("pk".into(), shoal_types::Value::Bool(true));
        assert!(matches!(partition_value("t", &key, "pk"), Err(ClientError::InvalidArgument(_))));
        key.insert("pk".into(), shoal_types::Value::S("x".into()));
        assert_eq!(partition_value("t", &key, "pk").unwrap(), KeyValue::S("x".into()));
    }
}
